"""Requests of the Compare workspace: run 2–4 models on the window's input, and the zoo's facts.

A comparison never touches the Session's engine unless a compared model *is* the one the
window shows (same ModelKey): that engine is borrowed, not reloaded. Every other model is
loaded here with ``Engine.load``, run through the core runner (:func:`compare`) and freed
before the next one is loaded, so memory holds the window's model plus one compared model.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
from PIL import Image

from cnnviz.core.augment.spec import AugmentSettings, format_spec
from cnnviz.core.compare.facts import CHART_AXES, ArchFacts, ErrorChart, arch_facts, error_chart
from cnnviz.core.compare.run import CompareError, Comparison, ModelRun, compare
from cnnviz.core.engine import Engine, as_pil
from cnnviz.core.labels import LabelError, class_index
from cnnviz.core.requests import ImageSource, JobContext, ModelKey, Request
from cnnviz.core.zoo.registry import all_archs, get_arch

if TYPE_CHECKING:
    from cnnviz.core.session import Session

MIN_MODELS, MAX_MODELS = 2, 4


@dataclass(frozen=True, eq=False)
class CompareRequest(Request[Comparison]):
    """Run `models` one after another on `image` through the window's augmentation."""

    lane: ClassVar[str] = "compare"
    long: ClassVar[bool] = True
    progress_label: ClassVar[str] = "Comparing models"

    models: tuple[ModelKey, ...]
    image: ImageSource
    augment: AugmentSettings | None = None
    true_label: str | None = None
    topk: int = 5

    def execute(self, session: Session, context: JobContext) -> Comparison:
        """Load, run and free each model in turn; stop between models when cancelled."""
        if not MIN_MODELS <= len(self.models) <= MAX_MODELS:
            raise CompareError(
                f"compare {MIN_MODELS} to {MAX_MODELS} models, not {len(self.models)}"
            )
        # What the window's model is fed: the image, or the lab's augmented uint8 tensor
        # (the same seed and second image as on screen), shared by every model. As a PIL
        # image: losslessly the same pixels, and what every engine's preprocessing reads.
        fed = session.model_input(self.image, self.augment)
        model_input = fed.image
        pil = as_pil(model_input)
        runs: list[ModelRun] = []
        stopped = False
        total = len(self.models)
        context.progress(0, total)
        for i, key in enumerate(self.models):
            context.yield_to_live()
            if context.cancelled():
                stopped = True
                break
            runs.append(self._run(session, key, pil, context))
            context.progress(i + 1, total)
        if self.true_label is not None and runs and all(r.truth is None for r in runs):
            raise LabelError(f"no compared model has a class named {self.true_label!r}")
        shown = None
        if fed.augmented is not None and isinstance(model_input, torch.Tensor):
            shown = model_input.permute(1, 2, 0).contiguous().numpy()
        return Comparison(
            tuple(runs),
            tuple(k.arch for k in self.models),
            format_spec(self.augment.spec) if self.augment is not None else "",
            self.augment.seed if self.augment is not None else 0,
            shown,
            self.true_label,
            stopped,
        )

    def _run(
        self, session: Session, key: ModelKey, x: Image.Image, context: JobContext
    ) -> ModelRun:
        label = _label_for(key.arch, self.true_label)
        # The window's own model (same key) is borrowed, never loaded twice or evicted.
        borrowed = session.engine if getattr(session, "_key", None) == key else None
        if borrowed is not None:
            return compare([borrowed], x, topk=self.topk, true_label=label).runs[0]
        engine = Engine.load(
            key.arch,
            weights_file=key.weights_file,
            device=key.device,
            allow_download=False,  # a comparison never starts a download
            cancelled=context.cancelled,
        )
        try:
            return compare([engine], x, topk=self.topk, true_label=label).runs[0]
        finally:
            del engine  # the only reference: the model is freed before the next one loads
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def _label_for(arch: str, label: str | None) -> str | None:
    """`label` if `arch` has such a class (LeNet has no ImageNet class), else None."""
    if label is None:
        return None
    try:
        class_index(get_arch(arch).categories, label)
    except LabelError:
        return None
    return label


@dataclass(frozen=True, eq=False)
class ZooFacts:
    """Every architecture's facts, and the published-error chart against each axis."""

    facts: tuple[ArchFacts, ...]
    charts: tuple[ErrorChart, ...]  # one per CHART_AXES entry, in that order

    def chart(self, axis: str) -> ErrorChart:
        return self.charts[CHART_AXES.index(axis)]


@dataclass(frozen=True)
class ZooFactsRequest(Request[ZooFacts]):
    """The zoo's facts (MACs and depth from meta-device forwards: ~2 s once per process)."""

    lane: ClassVar[str] = "compare_facts"
    long: ClassVar[bool] = True
    progress_label: ClassVar[str] = "Measuring the zoo"

    def execute(self, session: Session, context: JobContext) -> ZooFacts:
        """Facts of every architecture, then the charts (no weights are loaded)."""
        names = list(all_archs())
        facts = []
        for i, name in enumerate(names):
            context.yield_to_live()
            facts.append(arch_facts(name))
            context.progress(i + 1, len(names))
        return ZooFacts(tuple(facts), tuple(error_chart(axis) for axis in CHART_AXES))
