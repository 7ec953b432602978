"""Drawing an attribution map over an RGB image with a colormap and an opacity."""

from __future__ import annotations

import numpy as np

from cnnviz.core.explain.geometry import resample
from cnnviz.core.inspect.colormaps import apply_colormap

DEFAULT_COLORMAP = "inferno"


def render_overlay(
    rgb: np.ndarray,
    heat: np.ndarray,
    *,
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = 0.5,
    levels: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """`rgb` (H, W, 3) uint8 with `heat` coloured on top: (H, W, 3) uint8.

    `heat` (any resolution; bilinearly stretched to the image) is mapped through
    `colormap` between `levels` (0..1 for an Explanation's `upsampled`; use the
    "diverging" map with (-1, 1) for a signed difference). NaN pixels (e.g. outside the
    crop on the original photo) leave the image untouched.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {rgb.shape} {rgb.dtype}")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be within 0..1, got {opacity}")
    rows, cols = rgb.shape[:2]
    if heat.shape != (rows, cols):
        heat = resample(heat, (rows, cols))
    rgba = apply_colormap(heat.astype(np.float32), colormap, levels=levels, gap=None)
    alpha = (rgba[..., 3:4].astype(np.float32) / 255.0) * opacity
    blended = rgb.astype(np.float32) * (1.0 - alpha) + rgba[..., :3].astype(np.float32) * alpha
    return np.round(blended).astype(np.uint8)
