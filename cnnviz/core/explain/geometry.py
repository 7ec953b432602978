"""Resampling attribution maps: to the model input, and back onto the original photo.

Everything here is numpy. Bilinear sampling uses pixel centres (``align_corners=False``,
edges clamped), the convention of ``torch.nn.functional.interpolate`` and of OpenCV's
``INTER_LINEAR`` when enlarging, so a 7×7 Grad-CAM stretched here matches theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torchvision.transforms import v2
from torchvision.transforms._presets import ImageClassification

from cnnviz.core.zoo.registry import ArchSpec


def _axis(out_size: int, in_size: int, scale: float, offset: float) -> np.ndarray:
    """Source coordinates (in the map's pixels) of `out_size` output pixel centres.

    Output pixel i sits at `(i + 0.5) * scale + offset` in a frame where the map spans
    [0, in_size); NaN where that falls outside the map.
    """
    where = (np.arange(out_size, dtype=np.float64) + 0.5) * scale + offset
    inside = (where >= 0.0) & (where <= in_size)
    return np.where(inside, where - 0.5, np.nan)


def _interp_axis(values: np.ndarray, coords: np.ndarray, axis: int) -> np.ndarray:
    size = values.shape[axis]
    valid = ~np.isnan(coords)
    c = np.clip(np.where(valid, coords, 0.0), 0.0, size - 1)
    lo = np.floor(c).astype(np.intp)
    hi = np.minimum(lo + 1, size - 1)
    w = c - lo
    a, b = np.take(values, lo, axis=axis), np.take(values, hi, axis=axis)
    shape = [1, 1]
    shape[axis] = -1
    out = a * (1.0 - w).reshape(shape) + b * w.reshape(shape)
    if not valid.all():
        index = [slice(None), slice(None)]
        index[axis] = ~valid
        out[tuple(index)] = np.nan
    return out


def resample(
    image: np.ndarray,
    out_shape: tuple[int, int],
    *,
    window: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """Bilinear float32 resampling of a 2-D map to `out_shape` (rows, cols).

    `window` = (top, left, height, width) places the map over that rectangle of the
    output (in output pixels); outside it the result is NaN. By default the map covers
    the whole output.
    """
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {image.shape}")
    rows, cols = out_shape
    top, left, height, width = window if window is not None else (0.0, 0.0, rows, cols)
    h, w = image.shape
    ys = _axis(rows, h, h / height, -top * h / height)
    xs = _axis(cols, w, w / width, -left * w / width)
    out = _interp_axis(image.astype(np.float64), ys, 0)
    return _interp_axis(out, xs, 1).astype(np.float32)


def normalise(values: np.ndarray) -> np.ndarray:
    """Min-max scaled to 0..1 as float32 (all zeros for a constant map); NaN stays NaN."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros_like(values, dtype=np.float32)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return np.where(np.isnan(values), np.nan, 0.0).astype(np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


@dataclass(frozen=True)
class PreprocessGeometry:
    """Where the model input comes from in the image: resize, then centre crop.

    `resize` is an int for "shorter side to this many pixels" (torchvision's
    `Resize(int)`), a (rows, cols) pair for a stretch, or None for no resize;
    `crop` is (rows, cols) of the centre crop, or None for none.
    """

    resize: int | tuple[int, int] | None
    crop: tuple[int, int] | None
    interpolation: str

    def resized_shape(self, rows: int, cols: int) -> tuple[int, int]:
        """The image's (rows, cols) after the resize, as torchvision computes it."""
        if self.resize is None:
            return rows, cols
        if isinstance(self.resize, tuple):
            return self.resize
        short, long = (rows, cols) if rows <= cols else (cols, rows)
        new_short, new_long = self.resize, int(self.resize * long / short)
        return (new_short, new_long) if rows <= cols else (new_long, new_short)

    def crop_window(self, rows: int, cols: int) -> tuple[int, int, int, int]:
        """(top, left, height, width) of the model input inside the resized image."""
        r, c = self.resized_shape(rows, cols)
        if self.crop is None:
            return 0, 0, r, c
        ch, cw = self.crop
        # torchvision's center_crop: int(round(...)), negative (padding) when the crop is larger.
        return int(round((r - ch) / 2.0)), int(round((c - cw) / 2.0)), ch, cw


def preprocess_geometry(spec: ArchSpec) -> PreprocessGeometry:
    """The resize and centre crop of `spec`'s own preprocessing."""
    transform = spec.preprocess()
    if isinstance(transform, ImageClassification):
        size = list(transform.resize_size)
        resize: int | tuple[int, int] = size[0] if len(size) == 1 else (size[0], size[1])
        crop = list(transform.crop_size)
        crop_shape = (crop[0], crop[0]) if len(crop) == 1 else (crop[0], crop[1])
        return PreprocessGeometry(resize, crop_shape, transform.interpolation.value)
    steps = transform.transforms if isinstance(transform, v2.Compose) else [transform]
    resize_to: int | tuple[int, int] | None = None
    crop_to: tuple[int, int] | None = None
    interpolation = "bilinear"
    for step in steps:
        if isinstance(step, v2.Resize) and step.size is not None:
            size = list(step.size)
            resize_to = size[0] if len(size) == 1 else (size[0], size[1])
            interpolation = getattr(step.interpolation, "value", str(step.interpolation))
        elif isinstance(step, v2.CenterCrop):
            crop_to = (step.size[0], step.size[1])
    if resize_to is None and crop_to is None:
        resize_to = (spec.input_size, spec.input_size)
    return PreprocessGeometry(resize_to, crop_to, interpolation)


def to_original(
    heat: np.ndarray, original_shape: tuple[int, int], geometry: PreprocessGeometry
) -> np.ndarray:
    """A map over the model input drawn onto the original image of (rows, cols).

    The map (any resolution: a 7×7 CAM or a 224×224 saliency map) covers the centre crop;
    it is placed through the crop and the resize back into the photo's pixels. Pixels the
    model never saw (cut off by the crop) are NaN.
    """
    rows, cols = original_shape
    rr, rc = geometry.resized_shape(rows, cols)
    top, left, height, width = geometry.crop_window(rows, cols)
    sy, sx = rows / rr, cols / rc
    return resample(heat, (rows, cols), window=(top * sy, left * sx, height * sy, width * sx))


def map_to_original(
    spec: ArchSpec, heat: np.ndarray, original_shape: tuple[int, int]
) -> np.ndarray:
    """`to_original` with the resize and crop of `spec`'s preprocessing; shape is (rows, cols)."""
    return to_original(heat, original_shape, preprocess_geometry(spec))
