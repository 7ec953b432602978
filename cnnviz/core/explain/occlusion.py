"""Occlusion sensitivity (Zeiler & Fergus 2014): how much the class probability drops when a
square patch of the input is replaced, for every patch position, in batches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True, eq=False)
class OcclusionGrid:
    """The class probability with the patch at each grid position (NaN: not computed)."""

    tops: np.ndarray  # (rows,) int: patch top edges in model-input pixels
    lefts: np.ndarray  # (cols,) int: patch left edges
    patch: int
    probabilities: np.ndarray  # (rows, cols) float32
    base_probability: float  # the class probability without a patch

    @property
    def drops(self) -> np.ndarray:
        """base probability - probability with the patch, (rows, cols)."""
        return (self.base_probability - self.probabilities).astype(np.float32)


def patch_positions(size: int, patch: int, stride: int) -> np.ndarray:
    """Patch start offsets along one side: every `stride`, plus the last one flush with the edge
    so that every pixel is covered."""
    last = max(size - patch, 0)
    starts = list(range(0, last + 1, stride))
    if starts[-1] != last:
        starts.append(last)
    return np.asarray(starts, dtype=np.int64)


def apply_patch(
    x: torch.Tensor, fill: torch.Tensor, top: int, left: int, size: int
) -> torch.Tensor:
    """A copy of `x` (1, 3, H, W) whose square at (top, left) is taken from `fill` (same shape)."""
    out = x.clone()
    out[..., top : top + size, left : left + size] = fill[..., top : top + size, left : left + size]
    return out


def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    fill: torch.Tensor,
    target: int,
    *,
    patch: int,
    stride: int,
    batch_size: int,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> tuple[OcclusionGrid, np.ndarray, bool]:
    """The occlusion grid, the per-pixel map (mean drop over the patches covering each pixel,
    at model-input resolution) and whether the run was cancelled."""
    height, width = x.shape[-2:]
    tops, lefts = patch_positions(height, patch, stride), patch_positions(width, patch, stride)
    positions = [(int(t), int(le)) for t in tops for le in lefts]
    probabilities = np.full(len(positions), np.nan, dtype=np.float32)
    with torch.inference_mode():
        base = float(torch.softmax(model(x).float(), dim=1)[0, target])
        done = 0
        step = max(1, batch_size)
        for start in range(0, len(positions), step):
            if cancelled is not None and cancelled():
                break
            chunk = positions[start : start + step]
            batch = x.repeat(len(chunk), 1, 1, 1)
            for k, (top, left) in enumerate(chunk):
                batch[k, :, top : top + patch, left : left + patch] = fill[
                    0, :, top : top + patch, left : left + patch
                ]
            scores = torch.softmax(model(batch).float(), dim=1)[:, target]
            probabilities[start : start + len(chunk)] = scores.cpu().numpy()
            done = start + len(chunk)
            if progress is not None:
                progress(done, len(positions))
    grid = OcclusionGrid(tops, lefts, patch, probabilities.reshape(len(tops), len(lefts)), base)
    return grid, _pixel_map(grid, (height, width)), done < len(positions)


def _pixel_map(grid: OcclusionGrid, shape: tuple[int, int]) -> np.ndarray:
    total = np.zeros(shape, dtype=np.float64)
    count = np.zeros(shape, dtype=np.float64)
    drops = grid.drops
    for i, top in enumerate(grid.tops):
        for j, left in enumerate(grid.lefts):
            if np.isnan(drops[i, j]):
                continue
            total[top : top + grid.patch, left : left + grid.patch] += drops[i, j]
            count[top : top + grid.patch, left : left + grid.patch] += 1
    return np.where(count > 0, total / np.maximum(count, 1), 0.0).astype(np.float32)
