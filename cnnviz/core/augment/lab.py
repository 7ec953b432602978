"""The augmentation lab: augment, classify, and compare with the un-augmented image.

The baseline is the un-augmented image sent through the same uint8-tensor path as the
augmented one (PIL and tensor resizing differ slightly), so an empty spec gives exactly
the baseline: no flip, KL 0. Baselines are cached per engine and image, so a slider drag
pays for one forward pass per update.

KL divergence is KL(baseline ‖ augmented) = Σ p·ln(p / q) in nats over all classes, with
p the un-augmented and q the augmented probabilities (float64; terms with p = 0 are 0,
and q is floored at float32's smallest normal number so that an underflowed class gives
a large but finite value).

Sweeps and stability runs are requests the worker executes (`execute(session, ...)`).
"""

from __future__ import annotations

import threading
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from cnnviz.core.augment.pipeline import (
    AugmentPipeline,
    AugmentSpec,
    build_pipeline,
    format_spec,
    parse_spec,
    to_python,
    to_uint8_image,
)
from cnnviz.core.augment.sweep import describe_sweep, run_sweep, sweep_specs
from cnnviz.core.engine import Engine, Prediction
from cnnviz.core.session import DISPLAY_MAX_SIDE

_BASELINES_PER_ENGINE = 4
_Q_FLOOR = float(np.finfo(np.float32).tiny)

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


@dataclass(frozen=True)
class LabRow:
    """One class of the augmented top-k, compared with the un-augmented prediction."""

    rank: int
    index: int
    label: str
    probability: float
    baseline_probability: float
    baseline_rank: int  # 1-based, over all classes of the un-augmented prediction

    @property
    def delta_pp(self) -> float:
        """Probability change in percentage points (augmented minus baseline)."""
        return (self.probability - self.baseline_probability) * 100.0

    @property
    def rank_change(self) -> int:
        """Places moved up (positive) or down (negative) against the baseline."""
        return self.baseline_rank - self.rank

    def change_text(self) -> str:
        """E.g. "+12.3 pp, ↑2" or "−4.0 pp, =" (the minus is U+2212)."""
        pp = round(self.delta_pp, 1)
        sign = "−" if pp < 0 else "+"
        moved = self.rank_change
        arrow = "=" if moved == 0 else (f"↑{moved}" if moved > 0 else f"↓{-moved}")
        return f"{sign}{abs(pp):.1f} pp, {arrow}"


@dataclass(frozen=True, eq=False)
class LabOutcome:
    """An augmented image's prediction beside the un-augmented one, as plain data."""

    prediction: Prediction  # of the augmented image
    baseline: Prediction  # of the un-augmented image, through the same tensor path
    rows: tuple[LabRow, ...]
    top1_flipped: bool
    kl_divergence: float  # KL(baseline ‖ augmented) in nats
    augmented_image: np.ndarray  # (H, W, 3) uint8 for display, longest side ≤ 1024
    augmented_tensor: torch.Tensor  # (3, H, W) uint8 at full size: what the model is fed
    mix_weights: tuple[float, float] | None  # label weights (this image, second image)
    spec_text: str  # canonical
    python_code: str
    seed: int
    steps: tuple[str, ...] = ()

    def summary_text(self) -> str:
        """One line: top-1 flip (or not), KL and the mixed label weights."""
        if not self.spec_text:
            return "No augmentation: the lab pipeline is empty."
        before, after = self.baseline.top[0].label, self.prediction.top[0].label
        parts = [
            f"Top-1 flipped: {before} → {after}" if self.top1_flipped else f"Top-1 kept: {after}",
            f"KL {self.kl_divergence:.2f} nats",
        ]
        if self.mix_weights is not None:
            a, b = self.mix_weights
            parts.append(f"mix {a:.0%} A / {b:.0%} B")
        return " · ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary for the command line."""
        return {
            "spec": self.spec_text,
            "seed": self.seed,
            "top1_flipped": self.top1_flipped,
            "kl_divergence": self.kl_divergence,
            "mix_weights": list(self.mix_weights) if self.mix_weights else None,
            "predictions": [{**asdict(r), "change": r.change_text()} for r in self.rows],
        }


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p ‖ q) in nats (see the module docstring for the edge cases)."""
    p64 = np.asarray(p, dtype=np.float64)
    q64 = np.maximum(np.asarray(q, dtype=np.float64), _Q_FLOOR)
    mask = p64 > 0
    value = float(np.sum(p64[mask] * (np.log(p64[mask]) - np.log(q64[mask]))))
    return max(0.0, value)  # float32 softmaxes sum to 1 only to ~1e-7


def ranks_of(probabilities: np.ndarray) -> np.ndarray:
    """1-based rank of every class (1 = most probable; ties by class index)."""
    order = np.argsort(-np.asarray(probabilities), kind="stable")
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def _fingerprint(image: Image.Image) -> tuple[Any, ...]:
    return (id(image), image.size, image.mode, zlib.crc32(image.tobytes()))


_baselines: weakref.WeakKeyDictionary[Engine, OrderedDict[tuple[Any, ...], Prediction]] = (
    weakref.WeakKeyDictionary()
)
_baseline_lock = threading.Lock()


def baseline_prediction(engine: Engine, image: Image.Image, *, topk: int = 5) -> Prediction:
    """The un-augmented prediction through the uint8-tensor path, cached per engine."""
    key = (*_fingerprint(image), topk)
    with _baseline_lock:
        cache = _baselines.setdefault(engine, OrderedDict())
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    prediction = engine.predict(to_uint8_image(image).as_subclass(torch.Tensor), topk=topk)
    with _baseline_lock:
        cache[key] = prediction
        while len(cache) > _BASELINES_PER_ENGINE:
            cache.popitem(last=False)
    return prediction


@lru_cache(maxsize=32)
def _pipeline(spec_text: str) -> AugmentPipeline:
    return build_pipeline(spec_text)


def _display(image: torch.Tensor) -> np.ndarray:
    h, w = image.shape[-2:]
    if max(h, w) > DISPLAY_MAX_SIDE:
        scale = DISPLAY_MAX_SIDE / max(h, w)
        size = [max(1, round(h * scale)), max(1, round(w * scale))]
        image = F.resize(image, size, antialias=True)
    return image.permute(1, 2, 0).contiguous().numpy()


def compare(prediction: Prediction, baseline: Prediction) -> tuple[tuple[LabRow, ...], bool, float]:
    """Rows of `prediction.top` against `baseline`, whether top-1 flipped, and the KL."""
    before = baseline.probabilities
    ranks = ranks_of(before)
    rows = tuple(
        LabRow(c.rank, c.index, c.label, c.probability, float(before[c.index]), int(ranks[c.index]))
        for c in prediction.top
    )
    flipped = prediction.top[0].index != baseline.top[0].index
    return rows, flipped, kl_divergence(before, prediction.probabilities)


def run_lab(
    engine: Engine,
    image: Image.Image,
    spec: str | AugmentSpec,
    *,
    seed: int,
    mix_with: Image.Image | None = None,
    topk: int = 5,
) -> LabOutcome:
    """Augment `image` with `spec` (seeded), classify it and compare with the original."""
    text = format_spec(spec) if isinstance(spec, AugmentSpec) else format_spec(parse_spec(spec))
    baseline = baseline_prediction(engine, image, topk=topk)
    pipeline = _pipeline(text)
    outcome = pipeline.apply(image, seed=seed, mix_with=mix_with)
    # An empty spec feeds the very same tensor: reuse the baseline, skip the forward.
    prediction = engine.predict(outcome.image, topk=topk) if text else baseline
    rows, flipped, kl = compare(prediction, baseline)
    return LabOutcome(
        prediction=prediction,
        baseline=baseline,
        rows=rows,
        top1_flipped=flipped,
        kl_divergence=kl,
        augmented_image=_display(outcome.image),
        augmented_tensor=outcome.image,
        mix_weights=outcome.mix_weights,
        spec_text=text,
        python_code=to_python(pipeline.spec),
        seed=int(seed),
        steps=outcome.steps,
    )


# --- sweeps and stability, executed on the worker ---------------------------------------


@dataclass(frozen=True, eq=False)
class SweepOutcome:
    """Top classes' probabilities (N×K) at each swept value; partial if cancelled."""

    request_id: int
    transform: str
    param: str
    description: str  # how a value is written into the parameter, in words
    values: np.ndarray  # (N,) float64
    labels: tuple[str, ...]  # K classes with the highest peak probability over the sweep
    indices: tuple[int, ...]
    probabilities: np.ndarray  # (N, K)
    top1: tuple[str, ...]  # the top-1 class at each value
    cancelled: bool


@dataclass(frozen=True, eq=False)
class StabilityOutcome:
    """How often each class is top-1 over `samples` seeded draws of the pipeline."""

    request_id: int
    samples: int
    counts: tuple[tuple[str, int], ...]  # (label, count), most frequent first
    baseline_label: str  # top-1 of the un-augmented image
    spec_text: str
    first_seed: int
    cancelled: bool


def _inputs(session: Any, request: Any, cancelled: CancelFn | None):
    engine = session.engine_for(request.model, cancelled=cancelled)
    return engine, session.image_for(request.image), session.mix_image_for(request.augment)


def sweep_outcome(
    request_id: int,
    transform: str,
    param: str,
    values: np.ndarray,
    probabilities: np.ndarray,
    categories: Sequence[str],
    *,
    cancelled: bool,
    k: int = 5,
) -> SweepOutcome:
    """Keep the K classes with the highest peak probability over the swept values."""
    if len(probabilities) == 0:
        keep = np.zeros(0, dtype=np.int64)
        top1: tuple[str, ...] = ()
    else:
        peak = probabilities.max(axis=0)
        keep = np.argsort(-peak, kind="stable")[: min(k, probabilities.shape[1])]
        top1 = tuple(categories[int(i)] for i in probabilities.argmax(axis=1))
    return SweepOutcome(
        request_id=request_id,
        transform=transform,
        param=param,
        description=describe_sweep(transform, param),
        values=np.asarray(values, dtype=np.float64),
        labels=tuple(categories[int(i)] for i in keep),
        indices=tuple(int(i) for i in keep),
        probabilities=probabilities[:, keep] if len(probabilities) else np.zeros((0, 0)),
        top1=top1,
        cancelled=cancelled,
    )


@dataclass(frozen=True, eq=False)
class SweepRequest:
    """Sweep one parameter of the transform at `transform_index` over `values`."""

    request_id: int
    model: Any  # cnnviz.core.session.ModelKey
    image: Any  # cnnviz.core.session.ImageSource
    augment: Any  # cnnviz.core.session.AugmentSettings
    transform_index: int
    param: str
    values: tuple[float, ...]
    batch_size: int = 8
    topk: int = 5
    progress_label: ClassVar[str] = "Sweep"

    def execute(
        self, session: Any, *, progress: ProgressFn | None = None, cancelled: CancelFn | None = None
    ) -> SweepOutcome:
        """Augment at every value (same seed), classify in batches on the engine's device."""
        engine, image, mix = _inputs(session, self, cancelled)
        spec = parse_spec(self.augment.spec)
        specs = sweep_specs(spec, self.transform_index, self.param, self.values)
        result = run_sweep(
            image,
            specs,
            seed=self.augment.seed,
            classify=engine.classify,
            batch_size=self.batch_size,
            progress=progress,
            cancelled=cancelled,
            values=self.values,
            mix_with=mix,
        )
        return sweep_outcome(
            self.request_id,
            spec.calls[self.transform_index].name,
            self.param,
            result.values,
            result.probabilities,
            engine.spec.categories,
            cancelled=result.cancelled,
            k=self.topk,
        )


@dataclass(frozen=True, eq=False)
class StabilityRequest:
    """Draw the pipeline `samples` times with seeds seed, seed+1, … and count top-1s."""

    request_id: int
    model: Any
    image: Any
    augment: Any
    samples: int = 32
    batch_size: int = 8
    progress_label: ClassVar[str] = "Stability"

    def execute(
        self, session: Any, *, progress: ProgressFn | None = None, cancelled: CancelFn | None = None
    ) -> StabilityOutcome:
        """Classify every draw in batches; a cancelled run counts the draws done so far."""
        engine, image, mix = _inputs(session, self, cancelled)
        pipeline = _pipeline(format_spec(parse_spec(self.augment.spec)))
        seeds = [self.augment.seed + i for i in range(self.samples)]
        winners: list[int] = []
        stopped = False
        for start in range(0, len(seeds), self.batch_size):
            if cancelled is not None and cancelled():
                stopped = True
                break
            batch = seeds[start : start + self.batch_size]
            images = [pipeline.apply(image, seed=s, mix_with=mix).image for s in batch]
            winners += engine.classify(images).argmax(dim=1).tolist()
            if progress is not None:
                progress(len(winners), len(seeds))
        categories = engine.spec.categories
        tally: dict[str, int] = {}
        for i in winners:
            tally[categories[i]] = tally.get(categories[i], 0) + 1
        counts = tuple(sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])))
        baseline = baseline_prediction(engine, image)
        return StabilityOutcome(
            self.request_id,
            len(winners),
            counts,
            baseline.top[0].label,
            format_spec(pipeline.spec),
            self.augment.seed,
            stopped,
        )
