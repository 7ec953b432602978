"""The live analysis: one image through one model, with the lab and the layer explorer.

One request per user action (a new image, model, slider tick or layer). It costs one forward
pass: the layer the explorer shows is captured in the same pass as the prediction, and the
un-augmented baseline the lab compares with is cached per model and image.

What needs no model is drawn on the session's helper thread while the forward pass runs:
the lab's picture and texts as soon as the image is augmented, the layer's montage and
statistics as soon as the layer has run (for an early layer, most of the pass is still to
come, and its 400 000 values are the ones that take long to draw).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from cnnviz.core.augment.lab import LabOutcome, LabPictures, lab_outcome, lab_pictures
from cnnviz.core.augment.spec import AugmentSettings
from cnnviz.core.engine import Prediction
from cnnviz.core.inspect.settings import LayerSettings
from cnnviz.core.inspect.text import require_layer
from cnnviz.core.inspect.tree import LayerTree
from cnnviz.core.inspect.view import (
    LayerPictures,
    LayerView,
    layer_pictures,
    layer_view_from,
    resolve_layer,
)
from cnnviz.core.requests import ImageSource, JobContext, ModelKey, Request
from cnnviz.core.session import ModelSummary

if TYPE_CHECKING:
    from concurrent.futures import Future

    import torch

    from cnnviz.core.session import Session


@dataclass(frozen=True, eq=False)
class AnalysisResult:
    """Everything the main window shows for one request, as plain data."""

    model: ModelSummary
    image_name: str = ""
    original: np.ndarray | None = None  # (H, W, 3) uint8, longest side ≤ DISPLAY_MAX_SIDE
    prediction: Prediction | None = None  # of the augmented image when the lab is on
    lab: LabOutcome | None = None
    layer_tree: LayerTree | None = None
    layer_view: LayerView | None = None


@dataclass(frozen=True, eq=False)
class AnalysisRequest(Request[AnalysisResult]):
    """Classify `image` with `model`, through the lab's pipeline, showing `layer`."""

    lane: ClassVar[str] = "live"
    progress_label: ClassVar[str] = "Downloading weights"

    model: ModelKey
    image: ImageSource | None  # None: only load the model
    image_name: str = ""
    topk: int = 5
    augment: AugmentSettings | None = None
    layer: LayerSettings | None = None  # None: the layer explorer is hidden

    def serves(self, newer: Request[object]) -> bool:
        """A model being loaded (or downloaded) serves every newer analysis of that model."""
        return isinstance(newer, AnalysisRequest) and newer.model == self.model

    def shows_the_same_as(self, newer: Request[object]) -> bool:
        """Only the lab's pipeline or seed changed: the same model, image and layer."""
        return (
            isinstance(newer, AnalysisRequest)
            and newer.model == self.model
            and newer.image == self.image
            and newer.image_name == self.image_name
            and newer.layer == self.layer
            and newer.topk == self.topk
        )

    def execute(self, session: Session, context: JobContext) -> AnalysisResult:
        """Load the model and image (both cached), classify, add the lab and the layer."""
        engine = session.engine_for(self.model, context)
        if self.image is None:
            return AnalysisResult(session.summary())
        settings = self.layer
        name = None
        if settings is not None:
            name = resolve_layer(engine.model, settings.layer)
            tree = session.layer_tree()
            if name not in tree:
                require_layer(name, [node.name for node in tree.walk()], engine.spec.name)
        parts = settings.parts if settings is not None else frozenset()
        lab_drawn: Future[LabPictures] | None = None
        if self.augment is not None:
            augmented = session.model_input(self.image, self.augment).augmented
            assert augmented is not None
            lab_drawn = session.in_background(lab_pictures, augmented, self.augment.spec)
        layer_drawn: list[Future[LayerPictures]] = []

        def captured(output: torch.Tensor) -> None:
            assert settings is not None
            layer_drawn.append(session.in_background(layer_pictures, output, settings))

        prediction, seen = session.predict(
            engine,
            self.image,
            self.augment,
            topk=self.topk,
            layer=name,
            conv_input="im2col" in parts,
            on_captured=captured if settings is not None else None,
        )
        lab = None
        if self.augment is not None and lab_drawn is not None:
            baseline = session.baseline(engine, self.image, self.topk)
            augmented = session.model_input(self.image, self.augment).augmented
            assert augmented is not None
            lab = lab_outcome(
                prediction,
                baseline,
                augmented,
                self.augment.spec,
                self.augment.seed,
                lab_drawn.result(),
            )
        view = None
        if settings is not None and name is not None and seen is not None:
            # The last call's pictures: a module that runs twice shows its last output.
            pictures = layer_drawn[-1].result() if layer_drawn else None
            view = layer_view_from(
                engine.model, name, seen, settings, session.kernel_views, pictures
            )
        return AnalysisResult(
            session.summary(),
            self.image_name,
            session.display_image(self.image),
            prediction,
            lab,
            session.layer_tree() if settings is not None else None,
            view,
        )
