"""The preprocessing strip: what happens to a photo before the model sees it.

For torchvision's ``ImageClassification`` preset (``weights.transforms()``, and the
EfficientNet-Lite presets here): resize the SHORTER side to ``resize_size`` (keeping the
aspect ratio, with the stated interpolation and antialiasing) → cut the centre
``crop_size`` box out of the resized image → scale to float in [0, 1] → normalise each
channel with (x − mean) / std. Each stage is computed with the preset's own functions and
parameters, so the last one is exactly the engine's model input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import functional as TVF
from torchvision.transforms._presets import ImageClassification

from cnnviz.core.engine import Engine, as_pil
from cnnviz.core.errors import UserError

HISTOGRAM_BINS = 64


class NoPreprocessStripError(UserError):
    """The model's preprocessing is not a resize + centre-crop + normalise preset."""


@dataclass(frozen=True, eq=False)
class ChannelHistograms:
    """Per-channel histograms of one tensor: counts (3, bins) on edges (3, bins + 1).

    The edges after normalising are the edges before, mapped by (x − mean) / std per channel:
    normalising moves and stretches each channel's histogram, it does not change its shape.
    """

    counts: np.ndarray
    edges: np.ndarray
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True, eq=False)
class PreprocessStrip:
    """Every stage of the preprocessing of one image, as plain data."""

    original: np.ndarray  # (H, W, 3) uint8
    resized: np.ndarray  # (h, w, 3) uint8, shorter side = resize_size
    resize_size: tuple[int, ...]
    interpolation: str  # e.g. "bicubic"
    antialias: bool
    crop_box: tuple[int, int, int, int]  # (top, left, height, width) on the resized image
    cropped: np.ndarray  # (crop, crop, 3) uint8
    scaled: np.ndarray  # (3, crop, crop) float32 in [0, 1], before normalising
    tensor: np.ndarray  # (3, crop, crop) float32: the model input
    mean: tuple[float, ...]
    std: tuple[float, ...]
    before: ChannelHistograms  # of `scaled`
    after: ChannelHistograms  # of `tensor`

    def describe(self) -> list[str]:
        """One line per stage, for the strip's captions and the CLI."""
        (h0, w0), (h1, w1) = self.original.shape[:2], self.resized.shape[:2]
        top, left, ch, cw = self.crop_box
        return [
            f"original {w0}×{h0}",
            f"resized to {w1}×{h1} (shorter side {self.resize_size[0]}, "
            f"{self.interpolation}{', antialiased' if self.antialias else ''})",
            f"centre crop {cw}×{ch} at x={left}, y={top}",
            "scaled to [0, 1], then (x − mean) / std per channel with mean "
            + ", ".join(f"{m:.3f}" for m in self.mean)
            + " and std "
            + ", ".join(f"{s:.3f}" for s in self.std),
        ]


def _histograms(x: torch.Tensor, edges: np.ndarray) -> ChannelHistograms:
    flat = x.flatten(1).double().numpy()
    # Clipped to the outer edges: float32 rounding may put 0 or 1 a hair outside them.
    counts = np.stack(
        [np.histogram(np.clip(c, e[0], e[-1]), bins=e)[0] for c, e in zip(flat, edges, strict=True)]
    )
    return ChannelHistograms(
        counts,
        edges,
        tuple(float(v) for v in flat.mean(1)),
        tuple(float(v) for v in flat.std(1)),
    )


def preprocess_strip(engine: Engine, image: Image.Image | torch.Tensor) -> PreprocessStrip:
    """Each stage of `engine`'s preprocessing of `image` (PIL or uint8 (3, H, W) tensor)."""
    preset = engine.preprocess
    if not isinstance(preset, ImageClassification):
        raise NoPreprocessStripError(
            f"{engine.spec.display_name} preprocesses with {type(preset).__name__}, "
            "not a resize + centre-crop + normalise preset"
        )
    pil = as_pil(image)
    resized = TVF.resize(
        pil, preset.resize_size, interpolation=preset.interpolation, antialias=preset.antialias
    )
    crop_h, crop_w = preset.crop_size[0], preset.crop_size[-1]
    width, height = resized.size
    top = int(round((height - crop_h) / 2.0))
    left = int(round((width - crop_w) / 2.0))
    cropped = TVF.center_crop(resized, preset.crop_size)
    scaled = TVF.convert_image_dtype(TVF.pil_to_tensor(cropped), torch.float)
    tensor = TVF.normalize(scaled, mean=preset.mean, std=preset.std)
    before = np.tile(np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1), (3, 1))
    mean = np.asarray(preset.mean, dtype=np.float64)[:, None]
    std = np.asarray(preset.std, dtype=np.float64)[:, None]
    return PreprocessStrip(
        original=np.asarray(pil.convert("RGB")),
        resized=np.asarray(resized.convert("RGB")),
        resize_size=tuple(preset.resize_size),
        interpolation=preset.interpolation.value,
        antialias=bool(preset.antialias),
        crop_box=(top, left, crop_h, crop_w),
        cropped=np.asarray(cropped.convert("RGB")),
        scaled=scaled.numpy(),
        tensor=tensor.numpy(),
        mean=tuple(float(m) for m in preset.mean),
        std=tuple(float(s) for s in preset.std),
        before=_histograms(scaled, before),
        after=_histograms(tensor, (before - mean) / std),
    )
