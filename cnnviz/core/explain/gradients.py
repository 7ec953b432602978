"""Pixel attributions from input gradients: saliency, SmoothGrad, integrated gradients.

Own implementations rather than Captum's. Measured interleaved on this project's 2-core
CPU, as multiples of a bare forward, Lite0 / ResNet-50 (Captum 0.9.0 in brackets):
saliency 2.3 / 2.3 (2.2 / 2.4), SmoothGrad with 16 samples 31 / 29 (40 / 32), integrated
gradients with 32 steps 89 / 80 (76 / 67; ours uniform 91 / 66, the adaptive probe costs
about 14 forwards), occlusion 32/16 155 / 136 (148 / 145): the same batched forward +
backward, so no speed to gain. Ours check `cancelled()` and report progress between
batches, which Captum cannot, place the integration steps adaptively, and keep Captum out
of the runtime dependencies; Captum serves as a test reference.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torchvision.transforms.v2 import functional as F

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
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> GradientRun:
    """Σ_i weights[i] · reduce(gradient at make_batch's i-th input), in batches.

    `make_batch(start, stop)` builds inputs start..stop-1; `cancelled()` is checked before
    every batch, and a cancelled run returns the partial sum.
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
        part = (w * grads).sum(dim=0)
        acc = part if acc is None else acc + part
        done = stop
        if progress is not None:
            progress(done, total)
    if acc is None:
        acc = torch.zeros_like(reduce(make_batch(0, 1))[0])
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


def riemann_midpoints(steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Path positions and weights of the midpoint rule on [0, 1] with `steps` intervals."""
    alphas = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
    return alphas, torch.full((steps,), 1.0 / steps, dtype=torch.float64)


@dataclass(frozen=True)
class IntegratedGradients:
    """Attributions (3, H, W) and the completeness check of one integrated-gradients run."""

    attributions: np.ndarray
    score_gap: float  # f(x) - f(baseline), the logit difference the attributions should sum to
    cancelled: bool

    @property
    def completeness_error(self) -> float:
        """|Σ attributions - (f(x) - f(baseline))| relative to |f(x) - f(baseline)|."""
        total = float(self.attributions.astype(np.float64).sum())
        return abs(total - self.score_gap) / max(abs(self.score_gap), 1e-12)


def adaptive_midpoints(
    edges: np.ndarray, scores: np.ndarray, steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Path positions and weights for `steps` gradient evaluations over the probe intervals
    [edges[j], edges[j+1]] whose scores at the edges are `scores`.

    Each interval gets at least one step; the rest go where the score changes most
    (largest remainders), and each interval is integrated with the midpoint rule.
    """
    intervals = len(edges) - 1
    change = np.abs(np.diff(np.asarray(scores, dtype=np.float64)))
    share = change / change.sum() if change.sum() > 0 else np.full(intervals, 1.0 / intervals)
    wanted = share * (steps - intervals)
    counts = 1 + np.floor(wanted).astype(np.int64)
    leftover = steps - int(counts.sum())
    counts[np.argsort(-(wanted - np.floor(wanted)), kind="stable")[:leftover]] += 1
    widths = np.diff(edges)
    alphas = [edges[j] + (np.arange(n) + 0.5) * widths[j] / n for j, n in enumerate(counts)]
    weights = [np.full(n, widths[j] / n) for j, n in enumerate(counts)]
    return torch.from_numpy(np.concatenate(alphas)), torch.from_numpy(np.concatenate(weights))


def _scores_at(
    model: nn.Module, x: torch.Tensor, baseline: torch.Tensor, target: int, alphas: np.ndarray
) -> np.ndarray:
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
    Gauss-Legendre; 1-9 % with these steps). Forward passes (no backward) split the
    intervals with the largest score change, eight at a time, until `probes` are spent.
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


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    baseline: torch.Tensor,
    target: int,
    *,
    steps: int,
    batch_size: int,
    adaptive: bool = True,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> IntegratedGradients:
    """Integrated gradients (Sundararajan et al. 2017) along the straight path from
    `baseline` to `x` with `steps` gradient evaluations.

    With `adaptive` (the default) a cheap forward-only probe of the path places the steps
    (see `adaptive_midpoints`); without it, the plain midpoint rule.
    """
    edges, scores = probe_path(model, x, baseline, target, steps // 2 if adaptive else 1)
    if adaptive and len(edges) > 2:
        alphas, weights = adaptive_midpoints(edges, scores, steps)
    else:
        alphas, weights = riemann_midpoints(steps)
    delta = x - baseline
    path = alphas.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)

    def make(start: int, stop: int) -> torch.Tensor:
        return baseline + path[start:stop] * delta

    run = weighted_gradient_sum(
        model,
        make,
        weights,
        target,
        batch_size=batch_size,
        progress=progress,
        cancelled=cancelled,
    )
    attributions = (delta[0].double() * run.weighted_sum.double()).float()
    return IntegratedGradients(
        attributions.cpu().numpy(), float(scores[-1] - scores[0]), run.cancelled
    )
