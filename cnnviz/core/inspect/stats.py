"""Summary statistics of one layer's activation for one input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

HISTOGRAM_BINS = 64


@dataclass(frozen=True)
class LayerStats:
    """Statistics of a (C, H, W) activation; std is the population std (ddof=0).

    A channel is dead for this input when none of its values is above zero, i.e. it
    passes nothing through a following ReLU. `dead_channels` counts them and
    `dead_channel_indices` lists them.
    """

    mean: float
    std: float
    min: float
    max: float
    zero_fraction: float
    dead_channels: int
    dead_channel_indices: np.ndarray
    channel_mean: np.ndarray
    channel_max: np.ndarray
    hist_counts: np.ndarray
    hist_edges: np.ndarray


def activation_stats(act: torch.Tensor | np.ndarray, *, bins: int = HISTOGRAM_BINS) -> LayerStats:
    """Mean, spread, sparsity, dead channels and a histogram of a (C, H, W) activation."""
    if isinstance(act, torch.Tensor):
        act = act.detach().to("cpu", torch.float32).numpy()
    array = np.asarray(act, dtype=np.float32)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3:
        raise ValueError(f"expected a (C, H, W) activation, got shape {array.shape}")
    per_channel = array.reshape(array.shape[0], -1)
    channel_max = per_channel.max(axis=1)
    dead = np.flatnonzero(channel_max <= 0)
    # float64 accumulation: float32 sums over millions of values drift visibly.
    values = per_channel.astype(np.float64)
    finite = np.isfinite(array)
    if finite.all():
        counts, edges = np.histogram(array, bins=bins)
    elif finite.any():  # NaN/inf (weights gone bad) would make the automatic range invalid
        counts, edges = np.histogram(array[finite], bins=bins)
    else:
        counts, edges = np.zeros(bins, np.int64), np.linspace(0, 1, bins + 1, dtype=np.float32)
    return LayerStats(
        mean=float(values.mean()),
        std=float(values.std()),
        min=float(per_channel.min()),
        max=float(channel_max.max()),
        zero_fraction=float(np.count_nonzero(array == 0) / array.size),
        dead_channels=int(dead.size),
        dead_channel_indices=dead,
        channel_mean=values.mean(axis=1),
        channel_max=channel_max,
        hist_counts=counts,
        hist_edges=edges,
    )
