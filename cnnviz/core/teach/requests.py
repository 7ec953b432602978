"""The Teach views as requests: each runs on the worker and returns frozen plain data.

Every view looks at what the model is fed for the window's image (through the lab's
pipeline when one is on), except the preprocessing strip and the policy draws, which start
from the original image, and the fine-tune, which reads a folder of class folders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from cnnviz.core.augment.spec import AugmentSettings
from cnnviz.core.requests import ImageSource, JobContext, ModelKey, Request
from cnnviz.core.teach.batchnorm import BatchNormView, batchnorm_at, batchnorm_layers
from cnnviz.core.teach.dropout import (
    BatchOfOne,
    DropoutView,
    TrainEvalResult,
    batch_of_one,
    dropout_at,
    dropout_layers,
    train_vs_eval,
)
from cnnviz.core.teach.finetune import FineTuneResult, finetune
from cnnviz.core.teach.policy import CropBox, PolicyDraw, crop_boxes_in_pipeline, drawn_in_pipeline
from cnnviz.core.teach.preprocess import PreprocessStrip, preprocess_strip
from cnnviz.core.teach.pretrained import (
    PretrainedComparison,
    conv2d_layers,
    pretrained_vs_random,
)
from cnnviz.core.teach.residual import ResidualView, residual_adds, residual_at

if TYPE_CHECKING:
    from cnnviz.core.session import Session


def _cancel_check(context: JobContext):
    def check() -> bool:
        context.yield_to_live()
        return context.cancelled()

    return check


@dataclass(frozen=True, eq=False)
class TeachLayers:
    """The layers each Teach view can look at, for the loaded model."""

    dropout: tuple[str, ...]
    batchnorm: tuple[str, ...]
    residual_adds: tuple[str, ...]
    conv: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class TeachLayersRequest(Request[TeachLayers]):
    """List the model's Dropout, BatchNorm2d and residual-add layers."""

    lane: ClassVar[str] = "teach-layers"
    progress_label: ClassVar[str] = "Layers"

    model: ModelKey

    def execute(self, session: Session, context: JobContext) -> TeachLayers:
        engine = session.engine_for(self.model, context)
        try:
            adds = tuple(residual_adds(engine))
        except RuntimeError:  # fx cannot trace this model: no joins to offer
            adds = ()
        return TeachLayers(
            tuple(dropout_layers(engine.model)),
            tuple(batchnorm_layers(engine.model)),
            adds,
            tuple(conv2d_layers(engine.model)),
        )


@dataclass(frozen=True, eq=False)
class TrainEvalOutcome:
    """The train-vs-eval passes, the Dropout layer's mask, and the batch-of-one trap."""

    passes: TrainEvalResult
    dropout: DropoutView | None
    trap: BatchOfOne


@dataclass(frozen=True, eq=False)
class TrainEvalRequest(Request[TrainEvalOutcome]):
    """N stochastic train-behaviour passes beside eval, one Dropout layer's mask, the trap."""

    lane: ClassVar[str] = "teach-dropout"
    long: ClassVar[bool] = True
    progress_label: ClassVar[str] = "Train-mode passes"

    model: ModelKey
    image: ImageSource
    augment: AugmentSettings | None = None
    passes: int = 20
    batchnorm: bool = False
    dropout_p: float | None = None
    seed: int = 0
    layer: str | None = None  # the Dropout layer to show (default: the first)

    def execute(self, session: Session, context: JobContext) -> TrainEvalOutcome:
        engine = session.engine_for(self.model, context)
        image = session.model_input(self.image, self.augment).image
        result = train_vs_eval(
            engine,
            image,
            passes=self.passes,
            batchnorm=self.batchnorm,
            dropout_p=self.dropout_p,
            seed=self.seed,
            progress=context.progress,
            cancelled=_cancel_check(context),
        )
        layers = dropout_layers(engine.model)
        layer = self.layer if self.layer in layers else (layers[0] if layers else None)
        view = (
            dropout_at(engine, image, layer, seed=self.seed, dropout_p=self.dropout_p)
            if layer is not None
            else None
        )
        return TrainEvalOutcome(result, view, batch_of_one(engine, image))


@dataclass(frozen=True, eq=False)
class BatchNormRequest(Request[BatchNormView]):
    """Look inside one BatchNorm2d layer for the window's image."""

    lane: ClassVar[str] = "teach-batchnorm"
    progress_label: ClassVar[str] = "Batch norm"

    model: ModelKey
    image: ImageSource
    layer: str
    augment: AugmentSettings | None = None

    def execute(self, session: Session, context: JobContext) -> BatchNormView:
        engine = session.engine_for(self.model, context)
        return batchnorm_at(engine, session.model_input(self.image, self.augment).image, self.layer)


@dataclass(frozen=True, eq=False)
class ResidualRequest(Request[ResidualView]):
    """x, F(x) and x + F(x) at one residual add."""

    lane: ClassVar[str] = "teach-residual"
    progress_label: ClassVar[str] = "Residual add"

    model: ModelKey
    image: ImageSource
    node: str
    augment: AugmentSettings | None = None

    def execute(self, session: Session, context: JobContext) -> ResidualView:
        engine = session.engine_for(self.model, context)
        return residual_at(engine, session.model_input(self.image, self.augment).image, self.node)


@dataclass(frozen=True, eq=False)
class PretrainedRequest(Request[PretrainedComparison]):
    """One conv layer's maps and filters with pre-trained and with random weights."""

    lane: ClassVar[str] = "teach-pretrained"
    progress_label: ClassVar[str] = "Pre-trained vs random"

    model: ModelKey
    image: ImageSource
    layer: str
    augment: AugmentSettings | None = None
    seed: int = 0

    def execute(self, session: Session, context: JobContext) -> PretrainedComparison:
        engine = session.engine_for(self.model, context)
        image = session.model_input(self.image, self.augment).image
        return pretrained_vs_random(engine, image, self.layer, seed=self.seed)


@dataclass(frozen=True, eq=False)
class StripOutcome:
    """The preprocessing strip and, when the lab crops at random, where on the original."""

    strip: PreprocessStrip
    lab_crops: tuple[CropBox, ...] = ()
    original: np.ndarray | None = None  # (H, W, 3) uint8, full size, when there are crops
    augmented: bool = False  # the strip starts from the lab's augmented image


@dataclass(frozen=True, eq=False)
class PreprocessRequest(Request[StripOutcome]):
    """The preprocessing strip of the window's (augmented, if the lab is on) image."""

    lane: ClassVar[str] = "teach-preprocess"
    progress_label: ClassVar[str] = "Preprocessing"

    model: ModelKey
    image: ImageSource
    augment: AugmentSettings | None = None

    def execute(self, session: Session, context: JobContext) -> StripOutcome:
        engine = session.engine_for(self.model, context)
        strip = preprocess_strip(engine, session.model_input(self.image, self.augment).image)
        if self.augment is None:
            return StripOutcome(strip)
        original = session.image_for(self.image)
        crops = crop_boxes_in_pipeline(
            self.augment.spec,
            original,
            seed=self.augment.seed,
            mix_with=session.mix_image_for(self.augment),
        )
        return StripOutcome(strip, crops, np.asarray(original) if crops else None, True)


@dataclass(frozen=True, eq=False)
class PolicyDrawRequest(Request[tuple[PolicyDraw, ...]]):
    """What the lab pipeline's random policies drew for its seed (no model needed)."""

    lane: ClassVar[str] = "teach-policy"
    progress_label: ClassVar[str] = "Policy draws"

    image: ImageSource
    augment: AugmentSettings

    def execute(self, session: Session, context: JobContext) -> tuple[PolicyDraw, ...]:
        return drawn_in_pipeline(
            self.augment.spec,
            session.image_for(self.image),
            seed=self.augment.seed,
            mix_with=session.mix_image_for(self.augment),
        )


@dataclass(frozen=True, eq=False)
class FineTuneRequest(Request[FineTuneResult]):
    """Fine-tune a new linear head on a folder of class folders; save it if `out` is set."""

    lane: ClassVar[str] = "teach-finetune"
    long: ClassVar[bool] = True
    progress_label: ClassVar[str] = "Fine-tune"

    model: ModelKey
    folder: str
    epochs: int = 200
    holdout: float = 0.25
    seed: int = 0
    out: str | None = None

    def execute(self, session: Session, context: JobContext) -> FineTuneResult:
        engine = session.engine_for(self.model, context)
        return finetune(
            engine,
            self.folder,
            epochs=self.epochs,
            holdout=self.holdout,
            seed=self.seed,
            out=self.out,
            progress=context.progress,  # features: images done of all
            on_epoch=lambda epoch, _loss, _acc: context.progress(epoch, self.epochs),
            cancelled=_cancel_check(context),
        )
