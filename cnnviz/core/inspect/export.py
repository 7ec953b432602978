"""Layer pictures without Qt: kernel re-layouts, tiled colour patches, PNG and .npy export."""

from __future__ import annotations

import errno
import math
import os
import re
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from PIL import Image

from cnnviz.core.errors import UserError
from cnnviz.core.inspect.colormaps import apply_colormap

if TYPE_CHECKING:  # both import torch, which this module (used by Qt panels) must not
    from cnnviz.core.inspect.grids import KernelGrid
    from cnnviz.core.inspect.montage import Montage

EXPORT_GAP = (255, 255, 255)
# An exported picture is at most this many pixels (about 8000 x 8000, 192 MB as RGB): an
# absurd --scale once asked numpy for 129 GiB.
MAX_EXPORT_PIXELS = 64_000_000
_WRITE_ERRORS = {
    getattr(errno, name): reason
    for name, reason in (
        ("ENOSPC", "no space left on the device"),
        ("EDQUOT", "disk quota exceeded"),
        ("EACCES", "permission denied"),
        ("EPERM", "permission denied"),
        ("EROFS", "read-only file system"),
        ("ENOENT", "its folder does not exist"),
        ("EISDIR", "it is a folder"),
    )
    if hasattr(errno, name)
}


class ExportError(UserError):
    """An output file that cannot be written, or would be unreasonably large."""


def check_output_path(path: str | os.PathLike[str]) -> None:
    """ExportError unless a file can be created at `path`: its folder exists, it is no folder."""
    target = Path(path)
    if target.is_dir():
        raise ExportError(f"cannot write {path}: it is a folder")
    folder = target.parent
    if not folder.is_dir():
        raise ExportError(f"cannot write {path}: the folder {folder} does not exist")


def _write_file(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write through `write`; ExportError with the reason, and no half-written file, on failure."""
    check_output_path(path)
    existed = os.path.lexists(path)
    try:
        with open(path, "wb") as f:
            write(f)
    except OSError as exc:
        if not existed:
            with suppress(OSError):
                os.unlink(path)
        reason = _WRITE_ERRORS.get(exc.errno, exc.strerror or type(exc).__name__)
        raise ExportError(f"cannot write {path}: {reason}") from exc
    return Path(path)


def check_scale(shape: tuple[int, ...], scale: int) -> None:
    """ExportError unless an image of `shape`, each pixel drawn scale x scale, fits the cap."""
    height, width = shape[:2]
    if scale < 1:
        raise ExportError(f"scale must be at least 1, got {scale}")
    if height * width * scale * scale <= MAX_EXPORT_PIXELS:
        return
    most = math.isqrt(MAX_EXPORT_PIXELS // max(1, height * width))
    advice = f"use a scale of at most {most}" if most >= 1 else "the picture is too large"
    raise ExportError(
        f"scale {scale} would make a {width * scale}x{height * scale} picture, more than "
        f"{MAX_EXPORT_PIXELS // 1_000_000} megapixels; {advice}"
    )


def parse_channels(text: str, count: int) -> list[int]:
    """Parse "all", "" or "0-7, 12" into sorted channels in [0, count); ValueError if bad."""
    text = text.strip().lower()
    if text in ("", "all", "*"):
        return list(range(count))
    chosen: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"(\d+)\s*(?:-\s*(\d+))?", part)
        if match is None:
            raise ValueError(f"not a channel or range: {part!r}")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if high < low or high >= count:
            raise ValueError(f"{part!r} is outside 0-{count - 1}")
        chosen.update(range(low, high + 1))
    if not chosen:
        raise ValueError("no channels chosen")
    return sorted(chosen)


def arrange_kernels(
    grid: KernelGrid, *, order: str = "index", input_channels: Sequence[int] | None = None
) -> KernelGrid:
    """Re-lay an all-inputs, index-ordered grid: rows by `order` ("index"|"l2"), some columns."""
    from cnnviz.core.inspect.grids import KernelGrid, cells_of, tile_cells

    out_c = len(grid.order)
    n_in = len(grid.input_channels)
    if not np.array_equal(grid.order, np.arange(out_c)) or grid.input_channels != tuple(
        range(n_in)
    ):
        raise ValueError("arrange_kernels needs the grid of all input channels in index order")
    chosen = tuple(range(n_in)) if input_channels is None else tuple(int(i) for i in input_channels)
    if not chosen or any(i < 0 or i >= n_in for i in chosen):
        raise ValueError(f"input channels must be a non-empty subset of [0, {n_in})")
    rows = np.argsort(-grid.norms, kind="stable") if order == "l2" else np.arange(out_c)
    p = grid.padding
    return KernelGrid(
        image=tile_cells(cells_of(grid)[rows][:, list(chosen)], p),
        order=rows.astype(np.int64),
        input_channels=chosen,
        norms=grid.norms,
        near_zero=grid.near_zero,
        duplicate_of=grid.duplicate_of,
        scale=grid.scale,
        cell_shape=grid.cell_shape,
        padding=p,
    )


def wrap_kernels(grid: KernelGrid) -> tuple[np.ndarray, int]:
    """A one-column grid (depthwise convs) re-tiled near-square; returns (image, columns).

    Kernel k of the grid's row order sits at tile (k // columns, k % columns).
    """
    if len(grid.input_channels) != 1:
        raise ValueError("only a grid with one input channel column can be wrapped")
    n = len(grid.order)
    kh, kw = grid.cell_shape
    p = grid.padding
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    cells = np.full((rows * cols, kh + p, kw + p), np.nan, np.float32)
    cells[:n] = grid.image[: n * (kh + p), : kw + p].reshape(n, kh + p, kw + p)
    body = cells.reshape(rows, cols, kh + p, kw + p).transpose(0, 2, 1, 3)
    image = np.full((rows * (kh + p) + p, cols * (kw + p) + p), np.nan, np.float32)
    image[: rows * (kh + p), : cols * (kw + p)] = body.reshape(rows * (kh + p), cols * (kw + p))
    return image, cols


def tile_patches(
    patches: np.ndarray, *, columns: int | None = None, padding: int = 1
) -> np.ndarray:
    """(N, kh, kw, 3) colour kernels tiled into one (H, W, 3) float image, NaN in the gaps."""
    n, kh, kw, _ = patches.shape
    cols = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    cells = np.full((rows * cols, kh + padding, kw + padding, 3), np.nan, np.float32)
    cells[:n, padding:, padding:] = patches
    body = cells.reshape(rows, cols, kh + padding, kw + padding, 3).transpose(0, 2, 1, 3, 4)
    image = np.full((rows * (kh + padding) + padding, cols * (kw + padding) + padding, 3), np.nan)
    image[: rows * (kh + padding), : cols * (kw + padding)] = body.reshape(
        rows * (kh + padding), cols * (kw + padding), 3
    )
    return image.astype(np.float32)


def auto_scale(shape: tuple[int, ...], cell: tuple[int, int], *, target: int = 32) -> int:
    """An integer upscale making cells about `target` px, keeping the image under 4096 px."""
    longest = max(shape[:2])
    want = max(1, math.ceil(target / max(1, min(cell))))
    return max(1, min(want, 4096 // max(1, longest)))


def _save_rgb(rgb: np.ndarray, path: str | Path, scale: int) -> Path:
    check_scale(rgb.shape, scale)  # before np.repeat allocates
    check_output_path(path)
    if scale > 1:
        rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    image = Image.fromarray(rgb)
    return _write_file(path, lambda f: image.save(f, format="PNG"))


def save_montage_png(
    montage: Montage, path: str | Path, colormap: str = "viridis", *, scale: int = 1
) -> Path:
    """Write the montage in `colormap` (gaps white), each pixel as a scale×scale block."""
    return _save_rgb(apply_colormap(montage.image, colormap, gap=EXPORT_GAP), path, scale)


def save_kernel_grid_png(grid: KernelGrid, path: str | Path, *, scale: int = 1) -> Path:
    """Write a kernel grid with the diverging map: blue negative, white zero, red positive."""
    return _save_rgb(apply_colormap(grid.image, "diverging", gap=EXPORT_GAP), path, scale)


def save_patches_png(patches: np.ndarray, path: str | Path, *, scale: int = 1) -> Path:
    """Write first-layer colour patches tiled (gaps white)."""
    tiled = tile_patches(patches)
    rgb = np.round(np.nan_to_num(tiled, nan=1.0) * 255).astype(np.uint8)
    return _save_rgb(rgb, path, scale)


def save_activations_npy(activation: np.ndarray, path: str | Path) -> Path:
    """Write the raw activation array unchanged as .npy (the suffix added, as np.save does)."""
    array = np.asarray(activation)
    path = Path(path)
    if path.suffix != ".npy":
        path = path.with_name(path.name + ".npy")
    return _write_file(path, lambda f: np.save(f, array, allow_pickle=False))
