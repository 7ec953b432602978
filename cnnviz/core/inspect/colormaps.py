"""Colour lookup tables built with numpy alone, shared by the window and the PNG exports."""

from __future__ import annotations

import numpy as np

# Control points sampled at 9 evenly spaced positions from matplotlib's perceptually uniform
# maps; linear interpolation between them stays within a few levels of the originals.
_CONTROL_POINTS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "viridis": (
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ),
    "magma": (
        (0, 0, 4),
        (28, 16, 68),
        (79, 18, 123),
        (129, 37, 129),
        (181, 54, 122),
        (229, 80, 100),
        (251, 135, 97),
        (254, 194, 135),
        (252, 253, 191),
    ),
    "inferno": (
        (0, 0, 4),
        (31, 12, 72),
        (85, 15, 109),
        (136, 34, 106),
        (186, 54, 85),
        (227, 89, 51),
        (249, 140, 10),
        (249, 201, 50),
        (252, 255, 164),
    ),
    "grey": ((0, 0, 0), (255, 255, 255)),
    # Blue for negative, white at the midpoint, red for positive (ColorBrewer RdBu, reversed).
    "diverging": (
        (5, 48, 97),
        (33, 102, 172),
        (67, 147, 195),
        (146, 197, 222),
        (247, 247, 247),
        (244, 165, 130),
        (214, 96, 77),
        (178, 24, 43),
        (103, 0, 31),
    ),
}

COLORMAPS: tuple[str, ...] = tuple(_CONTROL_POINTS)
# The sequential maps offered for feature maps (the diverging one is for kernels).
MONTAGE_COLORMAPS: tuple[str, ...] = ("viridis", "magma", "inferno", "grey")
LUT_SIZE = 256


def lookup_table(name: str, size: int = LUT_SIZE) -> np.ndarray:
    """A (size, 3) uint8 table running through colormap `name` from low to high."""
    if name not in _CONTROL_POINTS:
        raise ValueError(f"unknown colormap {name!r}; choose one of: {', '.join(COLORMAPS)}")
    points = np.asarray(_CONTROL_POINTS[name], dtype=np.float64)
    where = np.linspace(0.0, 1.0, len(points))
    t = np.linspace(0.0, 1.0, size)
    channels = [np.interp(t, where, points[:, k]) for k in range(3)]
    return np.round(np.stack(channels, axis=1)).astype(np.uint8)


def apply_colormap(
    image: np.ndarray,
    name: str,
    *,
    levels: tuple[float, float] = (0.0, 1.0),
    gap: tuple[int, int, int] | None = (255, 255, 255),
) -> np.ndarray:
    """Colour a 2D float image: (H, W, 3) uint8 with NaN as `gap`, or RGBA (NaN clear) if None."""
    if image.ndim != 2:
        raise ValueError(f"expected a 2D image, got shape {image.shape}")
    table = lookup_table(name)
    low, high = levels
    span = high - low if high > low else 1.0
    missing = np.isnan(image)
    scaled = np.clip((np.where(missing, low, image) - low) / span, 0.0, 1.0)
    rgb = table[np.round(scaled * (len(table) - 1)).astype(np.intp)]
    if gap is not None:
        rgb[missing] = gap
        return rgb
    alpha = np.where(missing, 0, 255).astype(np.uint8)[..., None]
    return np.concatenate([rgb, alpha], axis=2)
