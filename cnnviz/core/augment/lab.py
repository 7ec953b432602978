"""The augmentation lab: augment, classify, and compare with the un-augmented image.

The baseline is the plain prediction of the un-augmented image. Every model input, plain or
augmented, goes through the engine's one preprocessing path, so an empty or no-op spec gives
exactly the baseline (no flip, KL 0). The session caches baselines per model and image, so a
slider drag pays for one forward pass per update.

KL divergence is KL(baseline ‖ augmented) = Σ p·ln(p / q) in nats over all classes, with
p the un-augmented and q the augmented probabilities (float64; terms with p = 0 are 0,
and q is floored at float32's smallest normal number so that an underflowed class gives
a large but finite value).

Sweeps and stability counts are requests of their own (cnnviz.core.augment.requests).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from cnnviz.core.augment.pipeline import AugmentOutcome, build_pipeline
from cnnviz.core.augment.spec import AugmentSpec, format_spec, to_python
from cnnviz.core.engine import Engine, Prediction
from cnnviz.core.images import DISPLAY_MAX_SIDE

_Q_FLOOR = float(np.finfo(np.float32).tiny)


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
    augmented_size: tuple[int, int]  # (height, width) of what the model is fed, full size
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


@dataclass(frozen=True, eq=False)
class LabPictures:
    """What the lab shows of an augmented image and its pipeline, whatever the model says."""

    augmented_image: np.ndarray
    spec_text: str
    python_code: str


def lab_pictures(augmented: AugmentOutcome, spec: AugmentSpec) -> LabPictures:
    """The augmented image at display size and the pipeline as text and as Python (the
    analysis makes them on the session's helper thread, beside the forward pass)."""
    return LabPictures(_display(augmented.image), format_spec(spec), to_python(spec))


def lab_outcome(
    prediction: Prediction,
    baseline: Prediction,
    augmented: AugmentOutcome,
    spec: AugmentSpec,
    seed: int,
    pictures: LabPictures | None = None,
) -> LabOutcome:
    """The lab's view of one augmented prediction beside the un-augmented baseline."""
    rows, flipped, kl = compare(prediction, baseline)
    shown = pictures if pictures is not None else lab_pictures(augmented, spec)
    return LabOutcome(
        prediction=prediction,
        baseline=baseline,
        rows=rows,
        top1_flipped=flipped,
        kl_divergence=kl,
        augmented_image=shown.augmented_image,
        augmented_size=(int(augmented.image.shape[-2]), int(augmented.image.shape[-1])),
        mix_weights=augmented.mix_weights,
        spec_text=shown.spec_text,
        python_code=shown.python_code,
        seed=int(seed),
        steps=augmented.steps,
    )


def run_lab(
    engine: Engine,
    image: Image.Image,
    spec: AugmentSpec,
    *,
    seed: int,
    mix_with: Image.Image | None = None,
    topk: int = 5,
) -> LabOutcome:
    """Augment `image` with `spec` (seeded), classify it and compare with the original."""
    baseline = engine.predict(image, topk=topk)
    augmented = build_pipeline(spec).apply(image, seed=seed, mix_with=mix_with)
    # An empty spec feeds the very same pixels: reuse the baseline, skip the forward.
    prediction = engine.predict(augmented.image, topk=topk) if len(spec) else baseline
    return lab_outcome(prediction, baseline, augmented, spec, seed)
