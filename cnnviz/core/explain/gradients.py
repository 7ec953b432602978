"""Pixel attributions from input gradients: saliency, SmoothGrad, integrated gradients.

Own implementations rather than Captum's. Measured interleaved on this project's 2-core
CPU, as multiples of a bare forward, Lite0 / ResNet-50 (Captum 0.9.0 in brackets):
saliency 2.3 / 2.3 (2.2 / 2.4), SmoothGrad with 16 samples 31 / 29 (40 / 32), integrated
gradients with 32 steps and no refinement 89 / 87 (76 / 67), occlusion 32/16 155 / 136
(148 / 145): the same batched forward + backward, so no speed to gain. Ours check
`cancelled()` and report progress between batches, which Captum cannot, place the
integration steps where a forward-only probe sees the score change, and refine them until
the attributions are complete; Captum serves as a test reference.

Integrated gradients on the trained Lite0 (cat photo, 224 pixels, 32 steps): the probe-placed
steps alone leave the completeness error at 6.8 %; refining to 0.5 % spends 114 gradient
evaluations, 305× a bare forward. ResNet-50 on random weights has a smooth path: 0.09 %
after the 32 steps, 88×.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torchvision.transforms.v2 import functional as F

# The probe's intervals, each holding its weighted gradient sum (3, H, W): 64 of them are
# 38 MB for a 224-pixel input.
MAX_INTERVALS = 64
ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class GradientRun:
    """Per-input gradients of one logit, summed with weights, and how far the run got."""

    weighted_sum: torch.Tensor  # (3, H, W)
    done: int
    total: int

    @property
    def cancelled(self) -> bool:
        return self.done < self.total


def input_gradients(model: nn.Module, batch: torch.Tensor, target: int) -> torch.Tensor:
    """d logit[target] / d input for every image of `batch` (N, 3, H, W)."""
    inputs = batch.detach().requires_grad_()
    with torch.enable_grad():
        logits = model(inputs)
        (grad,) = torch.autograd.grad(logits[:, target].sum(), inputs)
    return grad


def weighted_gradient_sum(
    model: nn.Module,
    make_batch: Callable[[int, int], torch.Tensor],
    weights: torch.Tensor,
    target: int,
    *,
    batch_size: int,
    reduce: Callable[[torch.Tensor], torch.Tensor] = lambda g: g,
    groups: torch.Tensor | None = None,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> GradientRun:
    """Σ_i weights[i] · reduce(gradient at make_batch's i-th input), in batches.

    With `groups` (a group number per input, 0..G-1) the sums are kept per group: the
    result is (G, ...) instead of one sum. `make_batch(start, stop)` builds inputs
    start..stop-1; `cancelled()` is checked before every batch, and a cancelled run returns
    the partial sum.
    """
    total = int(weights.numel())
    acc: torch.Tensor | None = None
    done = 0
    for start in range(0, total, max(1, batch_size)):
        if cancelled is not None and cancelled():
            break
        stop = min(total, start + max(1, batch_size))
        grads = reduce(input_gradients(model, make_batch(start, stop), target))
        w = weights[start:stop].to(grads).view(-1, *([1] * (grads.ndim - 1)))
        if groups is None:
            part = (w * grads).sum(dim=0)
            acc = part if acc is None else acc + part
        else:
            if acc is None:
                acc = grads.new_zeros((int(groups.max()) + 1, *grads.shape[1:]))
            acc.index_add_(0, groups[start:stop].to(grads.device), w * grads)
        done = stop
        if progress is not None:
            progress(done, total)
    if acc is None:
        first = reduce(make_batch(0, 1))[0]
        count = () if groups is None else (int(groups.max()) + 1,)
        acc = first.new_zeros((*count, *first.shape))
    return GradientRun(acc, done, total)


def saliency_of(gradient: torch.Tensor) -> torch.Tensor:
    """Simonyan et al. (2014): the largest |gradient| over the colour channels, per pixel."""
    return gradient.abs().amax(dim=-3)


def saliency(
    model: nn.Module, x: torch.Tensor, target: int | None
) -> tuple[np.ndarray, torch.Tensor, int]:
    """Vanilla gradient saliency (H, W) for one input (1, 3, H, W), its logits and the class
    explained (the top-1 when `target` is None), from one forward and one backward."""
    inputs = x.detach().requires_grad_()
    with torch.enable_grad():
        logits = model(inputs)
        chosen = int(logits[0].argmax()) if target is None else target
        (grad,) = torch.autograd.grad(logits[0, chosen], inputs)
    return saliency_of(grad[0]).cpu().numpy(), logits.detach(), chosen


def smoothgrad(
    model: nn.Module,
    x: torch.Tensor,
    target: int,
    *,
    samples: int,
    noise: float,
    seed: int,
    batch_size: int,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> tuple[np.ndarray, bool]:
    """SmoothGrad (Smilkov et al. 2017): the mean saliency over noisy copies of `x`.

    Noise is Gaussian with σ = `noise` × (max - min) of the input, drawn from a generator
    seeded with `seed` (the global RNG is untouched).
    """
    sigma = noise * float(x.max() - x.min())
    generator = torch.Generator().manual_seed(seed)
    shape = (samples, *x.shape[1:])
    draws = torch.randn(shape, generator=generator).to(x.device) * sigma

    def make(start: int, stop: int) -> torch.Tensor:
        return x + draws[start:stop]

    weights = torch.full((samples,), 1.0 / samples, dtype=torch.float64)
    run = weighted_gradient_sum(
        model,
        make,
        weights,
        target,
        batch_size=batch_size,
        reduce=saliency_of,
        progress=progress,
        cancelled=cancelled,
    )
    result = run.weighted_sum * (samples / run.done) if 0 < run.done < samples else run.weighted_sum
    return result.float().cpu().numpy(), run.cancelled


def blurred(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """`x` blurred with a Gaussian of `sigma` model-input pixels (the blurred baseline)."""
    side = min(x.shape[-2], x.shape[-1])
    kernel = min(2 * math.ceil(3 * sigma) + 1, side if side % 2 else side - 1)
    return F.gaussian_blur(x, [kernel, kernel], [sigma, sigma])


@dataclass(frozen=True)
class IntegratedGradients:
    """Attributions (3, H, W) and the completeness check of one integrated-gradients run."""

    attributions: np.ndarray
    score_gap: float  # f(x) - f(baseline), the logit difference the attributions should sum to
    cancelled: bool
    evaluations: int  # gradient evaluations spent, refinement included
    tolerance: float | None = None  # the completeness error refinement aimed for (None: none)

    @property
    def completeness_error(self) -> float:
        """|Σ attributions - (f(x) - f(baseline))| relative to |f(x) - f(baseline)|."""
        total = float(self.attributions.astype(np.float64).sum())
        return abs(total - self.score_gap) / max(abs(self.score_gap), 1e-12)

    @property
    def within_tolerance(self) -> bool:
        """Whether the run reached its completeness target (a run without one never does)."""
        return self.tolerance is not None and self.completeness_error <= self.tolerance


def adaptive_counts(edges: np.ndarray, scores: np.ndarray, steps: int) -> np.ndarray:
    """How many of `steps` gradient evaluations each probe interval [edges[j], edges[j+1]]
    gets: at least one each, the rest where the score changes most (largest remainders)."""
    intervals = len(edges) - 1
    change = np.abs(np.diff(np.asarray(scores, dtype=np.float64)))
    share = change / change.sum() if change.sum() > 0 else np.full(intervals, 1.0 / intervals)
    wanted = share * (steps - intervals)
    counts = 1 + np.floor(wanted).astype(np.int64)
    leftover = steps - int(counts.sum())
    counts[np.argsort(-(wanted - np.floor(wanted)), kind="stable")[:leftover]] += 1
    return counts


def _scores_at(
    model: nn.Module, x: torch.Tensor, baseline: torch.Tensor, target: int, alphas: np.ndarray
) -> np.ndarray:
    if len(alphas) == 0:
        return np.zeros(0)
    path = torch.as_tensor(alphas, dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
    with torch.inference_mode():
        logits = model(baseline + path * (x - baseline))
    return logits[:, target].double().cpu().numpy()


def probe_path(
    model: nn.Module, x: torch.Tensor, baseline: torch.Tensor, target: int, probes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Interval edges on [0, 1] and the class score at each, refined where the score changes.

    Trained networks often change their score within a few percent of the path (a black
    baseline "switches on" the image's features there), which a uniform grid of 64 steps
    integrates badly (completeness off by 17-60 % on the trained Lite0, 2-17 % with Captum's
    Gauss-Legendre). Forward passes (no backward) split the intervals with the largest score
    change, eight at a time, until `probes` are spent.
    """
    start = min(8, probes)
    edges = np.linspace(0.0, 1.0, start + 1)
    inner = _scores_at(model, x, baseline, target, edges[1:-1])
    with torch.inference_mode():
        ends = model(torch.cat([baseline, x]))[:, target].double().cpu().numpy()
    scores = np.concatenate([ends[:1], inner, ends[1:]])
    spent = start + 1
    while spent < probes:
        count = min(8, probes - spent)
        split = np.sort(np.argsort(-np.abs(np.diff(scores)), kind="stable")[:count])
        middles = (edges[split] + edges[split + 1]) / 2
        values = _scores_at(model, x, baseline, target, middles)
        edges = np.insert(edges, split + 1, middles)
        scores = np.insert(scores, split + 1, values)
        spent += count
    return edges, scores


class _PathQuadrature:
    """The midpoint rule on each interval of a probed path, kept per interval so that an
    interval can be re-integrated with more points.

    Per interval j it holds the weighted gradient sum G_j (3, H, W) and the scalar estimate
    Σ w·(g·δ) of the score change over it, whose true value s_{j+1} - s_j the probe already
    knows: the error of every interval is measured, not guessed.
    """

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        baseline: torch.Tensor,
        target: int,
        edges: np.ndarray,
        batch_size: int,
    ) -> None:
        self.model, self.target, self.batch_size = model, target, max(1, batch_size)
        self.baseline, self.delta = baseline, x - baseline
        self.edges = edges
        intervals = len(edges) - 1
        self.counts = np.zeros(intervals, dtype=np.int64)
        self.sums = torch.zeros((intervals, *x.shape[1:]), dtype=x.dtype, device=x.device)
        self.estimates = np.zeros(intervals)

    def midpoints(self, j: int, count: int) -> np.ndarray:
        """The `count` midpoint-rule positions on interval j."""
        width = self.edges[j + 1] - self.edges[j]
        return self.edges[j] + (np.arange(count) + 0.5) * width / count

    def add(
        self,
        points: list[tuple[int, np.ndarray, int]],
        done: int,
        total: int,
        progress: ProgressCallback | None,
        cancelled: CancelCheck | None,
    ) -> bool:
        """Evaluate gradients at `points` [(interval, positions, that interval's new point
        count)] and make them the intervals' new rule: an interval whose count grows from n to
        3n keeps its n old points (they are every third midpoint of the finer rule), which
        then weigh a third. Returns False, changing nothing, when cancelled between batches.
        """
        # Each point's place in `points`, so that only the refined intervals get new sums.
        where = np.concatenate([np.full(len(p), i) for i, (_, p, _) in enumerate(points)])
        alphas = np.concatenate([p for _, p, _ in points])
        widths = np.diff(self.edges)
        weights = np.concatenate([np.full(len(p), widths[j] / n) for j, p, n in points])
        path = torch.as_tensor(alphas, dtype=self.delta.dtype, device=self.delta.device)

        def make(start: int, stop: int) -> torch.Tensor:
            return self.baseline + path[start:stop].view(-1, 1, 1, 1) * self.delta

        run = weighted_gradient_sum(
            self.model,
            make,
            torch.from_numpy(weights),
            self.target,
            batch_size=self.batch_size,
            groups=torch.from_numpy(where),
            progress=None if progress is None else lambda d, _t: progress(done + d, total),
            cancelled=cancelled,
        )
        if run.cancelled:
            return False
        sums = run.weighted_sum
        estimates = (sums.double() * self.delta.double()).sum(dim=(1, 2, 3)).cpu().numpy()
        for i, (j, _, new) in enumerate(points):
            keep = self.counts[j] / new  # the old points' share of the finer rule
            self.sums[j] = self.sums[j] * keep + sums[i]
            self.estimates[j] = self.estimates[j] * keep + estimates[i]
            self.counts[j] = new
        return True

    def attributions(self) -> torch.Tensor:
        return (self.delta[0].double() * self.sums.double().sum(dim=0)).float()


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    baseline: torch.Tensor,
    target: int,
    *,
    steps: int,
    batch_size: int,
    adaptive: bool = True,
    tolerance: float | None = 0.005,
    budget: float = 4.0,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> IntegratedGradients:
    """Integrated gradients (Sundararajan et al. 2017) along the straight path from
    `baseline` to `x` with at least `steps` gradient evaluations.

    With `adaptive` (the default) a cheap forward-only probe of the path (`steps` forwards,
    at most `MAX_INTERVALS`) places the steps where the score changes (`adaptive_counts`).
    Then, while the completeness error exceeds `tolerance` and fewer than `budget` × `steps`
    evaluations are spent, the intervals whose measured error is largest are re-integrated
    with three times the points. Tripling rather than halving reuses every old point (the
    midpoints of n intervals are every third midpoint of 3n) and needs no new probe forward.
    Without `adaptive`, the plain midpoint rule with exactly `steps` points (Captum's
    "riemann_middle"). Progress totals grow when refinement adds work; a cancelled run
    returns the last complete estimate.
    """
    edges, scores = probe_path(
        model, x, baseline, target, min(steps, MAX_INTERVALS) if adaptive else 1
    )
    counts = adaptive_counts(edges, scores, steps) if adaptive else np.array([steps])
    rule = _PathQuadrature(model, x, baseline, target, edges, batch_size)
    first = [(j, rule.midpoints(j, int(n)), int(n)) for j, n in enumerate(counts)]
    finished = rule.add(first, 0, steps, progress, cancelled)
    spent = steps if finished else 0
    gap = float(scores[-1] - scores[0])
    limit = int(budget * steps)
    while finished and adaptive and tolerance is not None:
        errors = np.diff(scores) - rule.estimates
        if abs(errors.sum()) <= tolerance * abs(gap):
            break
        picks: list[tuple[int, np.ndarray, int]] = []
        cost = 0
        for j in np.argsort(-np.abs(errors), kind="stable"):
            n = int(rule.counts[j])
            if spent + cost + 2 * n > limit:
                continue
            finer = rule.midpoints(int(j), 3 * n)
            picks.append((int(j), np.delete(finer, np.arange(1, 3 * n, 3)), 3 * n))
            cost += 2 * n
            if cost >= rule.batch_size:
                break
        if not picks:
            break
        finished = rule.add(picks, spent, spent + cost, progress, cancelled)
        spent += cost if finished else 0
    return IntegratedGradients(
        rule.attributions().cpu().numpy(),
        gap,
        not finished,
        spent,
        tolerance if adaptive else None,
    )
