"""Run several architectures on the same (augmented) image, one after another.

Each model sees exactly what ``cnnviz predict`` would feed it: the PIL image through the
model's own preprocessing, or, with an augmentation spec, the augmented uint8 tensor
(augmented once, with the given seed, and shared by all models) through that same
preprocessing. Models named by architecture are loaded, run and freed one at a time, so
memory holds one model at most; engines passed in are the caller's and are left loaded.
"""

from __future__ import annotations

import gc
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from cnnviz.core.augment.pipeline import build_pipeline
from cnnviz.core.augment.spec import AugmentSpec, format_spec, parse_spec
from cnnviz.core.compare.facts import ArchFacts, arch_facts
from cnnviz.core.engine import ClassScore, Engine
from cnnviz.core.errors import UserError
from cnnviz.core.labels import LabelError, TruthResult, class_index, truth_of
from cnnviz.core.zoo.weights import WeightsInfo

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class CompareError(UserError, ValueError):
    """A comparison that cannot run as asked (no models, a top-k below 1)."""


@dataclass(frozen=True)
class ModelRun:
    """One model's answer for the shared input, with its architecture's facts."""

    facts: ArchFacts
    weights: WeightsInfo
    device: str
    forward_ms: float  # the forward pass alone, synchronised on the device
    top: tuple[ClassScore, ...]
    truth: TruthResult | None  # the true class's rank and probability, if one was given
    notice: str | None  # e.g. the accelerator ran out of memory and the CPU took over

    @property
    def name(self) -> str:
        return self.facts.name

    def as_dict(self) -> dict[str, object]:
        return {
            "arch": self.facts.name,
            "weights": self.weights.as_dict(),
            "device": self.device,
            "forward_ms": self.forward_ms,
            "predictions": [c.as_dict() for c in self.top],
            "truth": self.truth.as_dict() if self.truth is not None else None,
            "facts": self.facts.as_dict(),
        }


@dataclass(frozen=True, eq=False)
class Comparison:
    """Every model's top-k for one input, and where they agree."""

    runs: tuple[ModelRun, ...]
    requested: tuple[str, ...]  # architecture names in the order asked
    spec_text: str  # canonical augmentation spec ("" for none)
    seed: int
    augmented_image: np.ndarray | None  # (H, W, 3) uint8 the models were fed, if augmented
    true_label: str | None
    cancelled: bool

    @property
    def shared_labels(self) -> tuple[str, ...]:
        """Classes in every model's top-k, in the first model's order."""
        if not self.runs:
            return ()
        others = [{c.label for c in r.top} for r in self.runs[1:]]
        return tuple(c.label for c in self.runs[0].top if all(c.label in o for o in others))

    @property
    def label_votes(self) -> tuple[tuple[str, int], ...]:
        """(class, how many models have it in their top-k) for classes in two or more."""
        votes = Counter(c.label for r in self.runs for c in r.top)
        first_seen = {label: i for i, label in enumerate(c.label for r in self.runs for c in r.top)}
        shared = [(label, n) for label, n in votes.items() if n >= 2]
        return tuple(sorted(shared, key=lambda ln: (-ln[1], first_seen[ln[0]])))

    @property
    def top1_labels(self) -> tuple[str, ...]:
        return tuple(r.top[0].label for r in self.runs)

    @property
    def top1_differs(self) -> bool:
        return len(set(self.top1_labels)) > 1

    def as_dict(self) -> dict[str, object]:
        return {
            "models": [r.as_dict() for r in self.runs],
            "augment": {"spec": self.spec_text, "seed": self.seed} if self.spec_text else None,
            "true_label": self.true_label,
            "agreement": {
                "shared_classes": list(self.shared_labels),
                "votes": [{"label": label, "models": n} for label, n in self.label_votes],
                "top1": list(self.top1_labels),
                "top1_differs": self.top1_differs,
            },
            "cancelled": self.cancelled,
        }


def _model_input(
    image: Image.Image, augment: str | AugmentSpec | None, seed: int
) -> tuple[Image.Image | torch.Tensor, str, np.ndarray | None]:
    if augment is None:
        return image, "", None
    spec = parse_spec(augment) if isinstance(augment, str) else augment
    text = format_spec(spec)
    if not text:
        return image, "", None
    tensor = build_pipeline(spec).apply(image, seed=seed).image
    return tensor, text, tensor.permute(1, 2, 0).contiguous().numpy()


def _truth(engine: Engine, probabilities: np.ndarray, label: str | None) -> TruthResult | None:
    if label is None:
        return None
    try:
        index = class_index(engine.spec.categories, label)
    except LabelError:
        return None  # e.g. an ImageNet class asked of LeNet's digits
    return truth_of(probabilities, index, engine.spec.categories)


def _run_one(engine: Engine, x: Image.Image | torch.Tensor, topk: int, label: str | None):
    prediction = engine.predict(x, topk=topk)
    return ModelRun(
        facts=arch_facts(engine.spec),
        weights=engine.weights,
        device=prediction.device,
        forward_ms=prediction.forward_ms,
        top=prediction.top,
        truth=_truth(engine, prediction.probabilities, label),
        notice=prediction.notice,
    )


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def compare(
    models: Sequence[Engine | str],
    image: Image.Image,
    *,
    augment: str | AugmentSpec | None = None,
    seed: int = 0,
    topk: int = 5,
    weights: Mapping[str, str | os.PathLike[str]] | None = None,
    device: str | None = None,
    allow_download: bool = False,
    true_label: str | None = None,
    progress: ProgressFn | None = None,
    cancelled: CancelFn | None = None,
) -> Comparison:
    """Run each model (an Engine, or an architecture name loaded here and freed after use)
    on the same input; `weights` maps architecture names to weights files."""
    if not models:
        raise CompareError("nothing to compare: give at least one architecture")
    if topk < 1:
        raise CompareError("top-k must be at least 1")
    x, spec_text, shown = _model_input(image, augment, seed)
    names = tuple(m if isinstance(m, str) else m.spec.name for m in models)
    runs: list[ModelRun] = []
    stopped = False
    for i, item in enumerate(models):
        if cancelled is not None and cancelled():
            stopped = True
            break
        if isinstance(item, Engine):
            runs.append(_run_one(item, x, topk, true_label))
        else:
            file = (weights or {}).get(item)
            engine = Engine.load(
                item, weights_file=file, device=device, allow_download=allow_download
            )
            try:
                runs.append(_run_one(engine, x, topk, true_label))
            finally:
                del engine
                _free_memory()
        if progress is not None:
            progress(i + 1, len(models))
    if true_label is not None and runs and all(r.truth is None for r in runs):
        raise LabelError(f"no compared model has a class named {true_label!r}")
    return Comparison(tuple(runs), names, spec_text, int(seed), shown, true_label, stopped)
