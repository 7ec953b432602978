"""What the window asks for and what it gets back, computed without Qt.

The worker thread owns one Session. Requests and results are frozen dataclasses of
plain data (numpy arrays, numbers, strings) so that they can cross threads safely.
Besides AnalysisRequest, any frozen request with an `execute(session, *, progress,
cancelled)` method (a sweep, say) can be sent through the same worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from PIL import Image

from cnnviz.core.engine import Engine, Prediction
from cnnviz.core.images import load_image
from cnnviz.core.zoo.weights import WeightsInfo

ImageSource = str | bytes  # a path, or encoded bytes (pasted, dropped)
ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]
DISPLAY_MAX_SIDE = 1024


@dataclass(frozen=True)
class ModelKey:
    arch: str
    weights_file: str | None = None
    device: str | None = None
    allow_download: bool = False
    attempt: int = 0  # a new attempt reloads the same model (to retry a download)


@dataclass(frozen=True)
class AugmentSettings:
    """The augmentation lab's pipeline as spec text, its seed, and the second image to mix."""

    spec: str
    seed: int = 0
    mix_image: ImageSource | None = None


@dataclass(frozen=True)
class LayerSettings:
    """The layer explorer's selection and how its feature maps are tiled."""

    layer: str
    normalise: str = "channel"  # or "shared"
    order: str = "index"  # or "mean", "max"


@dataclass(frozen=True, eq=False)
class AnalysisRequest:
    # Loading (or downloading) this request's model also serves any newer analysis of the
    # same model, so the worker lets it finish when only the image or layer changed.
    work_serves_same_model: ClassVar[bool] = True

    request_id: int
    model: ModelKey
    image: ImageSource | None  # None: only load the model
    image_name: str = ""
    topk: int = 5
    augment: AugmentSettings | None = None
    layer: LayerSettings | None = None


@dataclass(frozen=True)
class ModelSummary:
    arch: str
    display_name: str
    weights: WeightsInfo
    device: str
    num_classes: int


@dataclass(frozen=True, eq=False)
class AnalysisResult:
    request_id: int
    model: ModelSummary
    image_name: str = ""
    original: np.ndarray | None = None  # (H, W, 3) uint8, at most DISPLAY_MAX_SIDE
    prediction: Prediction | None = None  # of the augmented image when the lab is on
    lab: object | None = None  # cnnviz.core.augment.lab.LabOutcome
    layer_tree: object | None = None  # cnnviz.core.inspect.layers.LayerTree of the current model
    layer_view: object | None = None  # cnnviz.core.inspect.view.LayerView
    extras: dict[str, object] = field(default_factory=dict)


class Session:
    """Caches the loaded engine and decoded images; answers requests one at a time."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._key: ModelKey | None = None
        self._images: dict[ImageSource, tuple[Image.Image, np.ndarray]] = {}
        self._layer_tree: object | None = None
        # Cleared whenever another model is loaded, so it never outlives its engine.
        self._last_classified: tuple[tuple, tuple] | None = None

    def engine_for(
        self,
        key: ModelKey,
        *,
        progress: ProgressFn | None = None,
        cancelled: CancelFn | None = None,
    ) -> Engine:
        if self.engine is None or key != self._key:
            self.engine = None  # free the old model before building the next
            self._key = None
            self._layer_tree = None
            self._last_classified = None
            self.engine = Engine.load(
                key.arch,
                weights_file=key.weights_file,
                device=key.device,
                allow_download=key.allow_download,
                progress=progress,
                cancelled=cancelled,
            )
            self._key = key
        return self.engine

    def image_for(self, source: ImageSource) -> Image.Image:
        """The decoded RGB image for `source`; the last few stay decoded."""
        if source not in self._images:
            image = load_image(source)
            display = image.copy()
            display.thumbnail((DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE))
            if len(self._images) >= 4:
                self._images.pop(next(iter(self._images)))
            self._images[source] = (image, np.asarray(display))
        return self._images[source][0]

    def display_image(self, source: ImageSource) -> np.ndarray:
        self.image_for(source)
        return self._images[source][1]

    def layer_tree(self) -> object:
        """The current model's layer tree, built once per model."""
        if self._layer_tree is None:
            from cnnviz.core.inspect.view import layer_tree_for

            self._layer_tree = layer_tree_for(self.engine)
        return self._layer_tree

    def _classify(self, engine: Engine, image: Image.Image, request: AnalysisRequest):
        """(lab outcome or None, prediction, image fed to the model), reused while only the
        layer explorer's settings change, so a layer switch costs one forward, not two."""
        key = (request.image, request.augment, request.topk)
        if self._last_classified is not None and self._last_classified[0] == key:
            return self._last_classified[1]
        if request.augment is not None:
            lab = self.run_lab(engine, image, request.augment, topk=request.topk)
            outcome = (lab, lab.prediction, lab.augmented_tensor)
        else:
            outcome = (None, engine.predict(image, topk=request.topk), image)
        self._last_classified = (key, outcome)
        return outcome

    def mix_image_for(self, augment: AugmentSettings) -> Image.Image | None:
        """The decoded second image of a MixUp/CutMix pipeline, if it has one."""
        return self.image_for(augment.mix_image) if augment.mix_image is not None else None

    def run_lab(
        self, engine: Engine, image: Image.Image, augment: AugmentSettings, *, topk: int = 5
    ):
        """The lab's outcome (a LabOutcome) for `augment` applied to `image`."""
        from cnnviz.core.augment.lab import run_lab

        return run_lab(
            engine,
            image,
            augment.spec,
            seed=augment.seed,
            mix_with=self.mix_image_for(augment),
            topk=topk,
        )

    def summary(self) -> ModelSummary:
        engine = self.engine
        assert engine is not None
        return ModelSummary(
            engine.spec.name,
            engine.spec.display_name,
            engine.weights,
            str(engine.device),
            engine.spec.num_classes,
        )

    def handle(
        self,
        request: object,
        *,
        progress: ProgressFn | None = None,
        cancelled: CancelFn | None = None,
    ) -> object:
        """Answer `request`: an analysis, or any request that knows how to execute itself."""
        if isinstance(request, AnalysisRequest):
            return self.analyse(request, progress=progress, cancelled=cancelled)
        return request.execute(self, progress=progress, cancelled=cancelled)

    def analyse(
        self,
        request: AnalysisRequest,
        *,
        progress: ProgressFn | None = None,
        cancelled: CancelFn | None = None,
    ) -> AnalysisResult:
        """Load the model and image of `request` (both cached), classify, add lab and layer."""
        image = self.image_for(request.image) if request.image is not None else None
        engine = self.engine_for(request.model, progress=progress, cancelled=cancelled)
        if image is None:
            return AnalysisResult(request.request_id, self.summary())
        lab, prediction, model_image = self._classify(engine, image, request)
        tree = view = None
        if request.layer is not None:
            from cnnviz.core.inspect.view import build_layer_view

            tree = self.layer_tree()
            view = build_layer_view(engine, model_image, request.layer)
        return AnalysisResult(
            request.request_id,
            self.summary(),
            request.image_name,
            self.display_image(request.image),
            prediction,
            lab,
            tree,
            view,
        )
