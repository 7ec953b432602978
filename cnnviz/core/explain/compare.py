"""Thin helpers over `explain`: two classes side by side, several methods, the occluder probe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cnnviz.core.engine import ClassScore, Engine
from cnnviz.core.explain.geometry import resample
from cnnviz.core.explain.methods import (
    DEFAULT_OPTIONS,
    CancelCheck,
    ClassChoice,
    ExplainOptions,
    Explanation,
    ImageLike,
    ProgressCallback,
    explain,
    model_input,
    reference_image,
)
from cnnviz.core.explain.occlusion import apply_patch


@dataclass(frozen=True, eq=False)
class Contrast:
    """One method for two classes and where they differ."""

    a: Explanation
    b: Explanation
    difference: np.ndarray  # float32 a.map - b.map, at the maps' resolution
    upsampled: np.ndarray  # float32 (H, W) in -1..1 (difference / its largest magnitude)


def contrast(
    engine: Engine,
    image: ImageLike,
    method: str,
    class_a: ClassChoice,
    class_b: ClassChoice,
    *,
    layer: str | None = None,
    options: ExplainOptions = DEFAULT_OPTIONS,
) -> Contrast:
    """`method`'s maps for classes A and B; positive difference: regions that favour A."""
    x = model_input(engine, image)
    a = explain(engine, x, method, target_class=class_a, layer=layer, options=options)
    b = explain(engine, x, method, target_class=class_b, layer=a.layer, options=options)
    difference = (a.map - b.map).astype(np.float32)
    shape = a.upsampled.shape
    upsampled = difference if difference.shape == shape else resample(difference, shape)
    peak = float(np.abs(upsampled).max())
    scaled = upsampled / peak if peak > 0 else np.zeros_like(upsampled)
    return Contrast(a, b, difference, scaled.astype(np.float32))


def explain_grid(
    engine: Engine,
    image: ImageLike,
    methods: Sequence[str],
    *,
    target_class: ClassChoice | None = None,
    layer: str | None = None,
    options: ExplainOptions = DEFAULT_OPTIONS,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> tuple[Explanation, ...]:
    """Several methods for one class (the top-1 when None), in the given order.

    Progress counts methods done; a cancel stops before the next method.
    """
    x = model_input(engine, image)
    out: list[Explanation] = []
    for i, method in enumerate(methods):
        if cancelled is not None and cancelled():
            break
        out.append(
            explain(engine, x, method, target_class=target_class, layer=layer, options=options)
        )
        target_class = out[0].class_index  # every cell explains the same class
        if progress is not None:
            progress(i + 1, len(methods))
    return tuple(out)


@dataclass(frozen=True, eq=False)
class OccluderProbe:
    """The top-k with one patch over the model input."""

    top: tuple[ClassScore, ...]
    probabilities: np.ndarray  # (classes,) float32
    model_input: np.ndarray  # (H, W, 3) uint8 with the patch drawn in


def occluder_probe(
    engine: Engine,
    image: ImageLike,
    *,
    top: int,
    left: int,
    size: int,
    fill: str = "mean",
    blur_sigma: float = ExplainOptions.blur_sigma,
    topk: int = 5,
) -> OccluderProbe:
    """Classify `image` with the square (top, left, size) in model-input pixels replaced."""
    x = model_input(engine, image)
    reference = reference_image(x, fill, engine.spec.normalisation(), blur_sigma)
    occluded = apply_patch(x, reference, top, left, size)
    probabilities = torch.softmax(engine.forward(occluded)[0], dim=0)
    return OccluderProbe(
        engine.top_classes(probabilities, topk),
        probabilities.numpy(),
        engine.denormalise(occluded[0]),
    )
