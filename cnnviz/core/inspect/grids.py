"""Cells tiled into one image, and mapping image pixels back to cells (no torch).

The feature-map montage and the kernel grid share this geometry: cells `padding` apart with
a `padding` border on the top and left, NaN in the gaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def grid_cell(
    row_px: int,
    col_px: int,
    cell_shape: tuple[int, int],
    padding: int,
    grid_shape: tuple[int, int],
) -> tuple[int, int] | None:
    """(row, column) of the grid cell drawn at image pixel (row_px, col_px), or None when
    the pixel falls in the padding or outside the grid. Cells are `padding` apart and the
    grid has a `padding` border on its top and left."""
    h, w = cell_shape
    r, c = row_px - padding, col_px - padding
    if r < 0 or c < 0:
        return None
    row, in_row = divmod(r, h + padding)
    col, in_col = divmod(c, w + padding)
    if in_row >= h or in_col >= w or row >= grid_shape[0] or col >= grid_shape[1]:
        return None
    return row, col


def tile_cells(cells: np.ndarray, padding: int) -> np.ndarray:
    """(rows, cols, h, w) cells as one image, NaN gaps of `padding` between and around them."""
    rows, cols, h, w = cells.shape
    padded = np.full((rows, cols, h + padding, w + padding), np.nan, np.float32)
    padded[:, :, padding:, padding:] = cells
    body = padded.transpose(0, 2, 1, 3).reshape(rows * (h + padding), cols * (w + padding))
    image = np.full((body.shape[0] + padding, body.shape[1] + padding), np.nan, np.float32)
    image[: body.shape[0], : body.shape[1]] = body
    return image


def cells_of(grid: KernelGrid) -> np.ndarray:
    """The (rows, cols, kh, kw) kernel cells drawn in `grid`, in its row and column order."""
    kh, kw = grid.cell_shape
    p = grid.padding
    rows, cols = len(grid.order), len(grid.input_channels)
    body = grid.image[p : p + rows * (kh + p), p : p + cols * (kw + p)]
    return body.reshape(rows, kh + p, cols, kw + p)[:, :kh, :, :kw].transpose(0, 2, 1, 3)


@dataclass(frozen=True)
class KernelGrid:
    """Kernels of one conv layer as one 2D image: a row per output channel.

    `image` is float32 with 0.5 for a zero weight and 0/1 for -/+`scale` (the layer's
    largest |weight|), so one diverging colour map shows every kernel on the same scale;
    gaps are NaN. Row r shows output channel `order[r]`, column j input channel
    `input_channels[j]` (an index within the output channel's group).
    Per-output-channel arrays (`norms`, `near_zero`, `duplicate_of`) are indexed by
    channel, not by row. `near_zero`: L2 norm below NEAR_ZERO_RATIO x the layer's median
    norm, or exactly 0. `duplicate_of[o]` is the other kernel whose cosine similarity with
    kernel o is highest when that exceeds DUPLICATE_COSINE, else -1; near-zero kernels are
    never duplicates.
    """

    image: np.ndarray
    order: np.ndarray
    input_channels: tuple[int, ...]
    norms: np.ndarray
    near_zero: np.ndarray
    duplicate_of: np.ndarray
    scale: float
    cell_shape: tuple[int, int]
    padding: int

    @property
    def near_duplicate(self) -> np.ndarray:
        """Boolean mask of kernels that have a near-duplicate partner."""
        return self.duplicate_of >= 0

    def kernel_at(self, row_px: int, col_px: int) -> tuple[int, int] | None:
        """(output channel, input channel) drawn at image pixel (row, col), or None in a gap."""
        grid = (len(self.order), len(self.input_channels))
        cell = grid_cell(row_px, col_px, self.cell_shape, self.padding, grid)
        if cell is None:
            return None
        return int(self.order[cell[0]]), self.input_channels[cell[1]]
