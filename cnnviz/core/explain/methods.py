"""One entry point for every attribution method, on a bare model and on an Engine.

`compute_map` works on any model and a preprocessed (1, 3, H, W) tensor (the sanity check
runs it on randomised copies); `explain` adds what a view needs: the class's label and
probability, the top-5, the de-normalised model input and a display map scaled 0..1.
Gradient methods explain the class LOGIT (as Grad-CAM, saliency and integrated gradients
are defined); occlusion measures the class PROBABILITY, which is what a user watches drop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from cnnviz.core.engine import ClassScore, Engine
from cnnviz.core.errors import UserError
from cnnviz.core.explain import cam, gradients
from cnnviz.core.explain.classes import resolve_class
from cnnviz.core.explain.geometry import normalise, resample
from cnnviz.core.explain.occlusion import OcclusionGrid, occlusion

ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]
ImageLike = Image.Image | torch.Tensor
ClassChoice = int | str

METHODS: tuple[str, ...] = ("gradcam", "gradcam++", "saliency", "smoothgrad", "ig", "occlusion")
CAM_METHODS: tuple[str, ...] = ("gradcam", "gradcam++")
METHOD_TITLES = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "saliency": "Gradient saliency",
    "smoothgrad": "SmoothGrad",
    "ig": "Integrated gradients",
    "occlusion": "Occlusion",
}
BASELINES: tuple[str, ...] = ("black", "blurred")
FILLS: tuple[str, ...] = ("mean", "black", "blurred")


class UnknownMethodError(UserError, KeyError):
    """An attribution method name cnnviz does not know."""


class OptionError(UserError, ValueError):
    """An explanation option out of its range (steps, samples, patch size, ...)."""


def check_method(method: str) -> str:
    """`method` normalised to lower case, or UnknownMethodError listing the methods."""
    name = method.strip().lower()
    if name not in METHODS:
        raise UnknownMethodError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    return name


@dataclass(frozen=True)
class ExplainOptions:
    """The knobs of every method; each method reads its own."""

    samples: int = 16  # SmoothGrad: noisy copies
    noise: float = 0.15  # SmoothGrad: σ as a fraction of the input's value range
    seed: int = 0  # SmoothGrad: noise seed
    steps: int = 32  # integrated gradients: least gradient evaluations (refined up to 4x)
    baseline: str = "black"  # integrated gradients: "black" or "blurred"
    blur_sigma: float = 12.0  # blurred baseline / fill: Gaussian σ in model-input pixels
    patch: int = 32  # occlusion: square side in model-input pixels
    stride: int = 16  # occlusion: step between patches
    fill: str = "mean"  # occlusion: "mean" (dataset mean colour), "black" or "blurred"
    # Images per forward for SmoothGrad, IG and occlusion: on the 2-core CPU a gradient costs
    # 31 / 117 ms an image (Lite0 / ResNet-50) in batches of 8, 46 / 191 in batches of 16.
    batch_size: int = 8

    def check(self) -> ExplainOptions:
        """Self, or OptionError naming the first bad value."""
        positive = {
            "samples": self.samples,
            "steps": self.steps,
            "patch": self.patch,
            "stride": self.stride,
            "batch_size": self.batch_size,
        }
        for name, value in positive.items():
            if value < 1:
                raise OptionError(f"{name} must be at least 1, got {value}")
        if self.noise < 0:
            raise OptionError(f"noise must be 0 or more, got {self.noise}")
        if self.blur_sigma <= 0:
            raise OptionError(f"blur sigma must be positive, got {self.blur_sigma}")
        if self.baseline not in BASELINES:
            raise OptionError(f"baseline must be one of {', '.join(BASELINES)}")
        if self.fill not in FILLS:
            raise OptionError(f"fill must be one of {', '.join(FILLS)}")
        return self


DEFAULT_OPTIONS = ExplainOptions()


@dataclass(frozen=True, eq=False)
class RawMap:
    """A method's map for one class on one model, before any display scaling."""

    map: np.ndarray  # float32 (h, w)
    signed: bool
    target: int
    logits: np.ndarray  # (classes,) float32, for the unmodified input
    cancelled: bool = False
    completeness_error: float | None = None
    ig_evaluations: int | None = None
    occlusion: OcclusionGrid | None = None


def reference_image(
    x: torch.Tensor, kind: str, normalisation: tuple[Sequence[float], Sequence[float]], sigma: float
) -> torch.Tensor:
    """The IG baseline / occlusion fill `kind` for `x`, in the model's normalised space."""
    if kind == "mean":
        return torch.zeros_like(x)
    if kind == "black":
        mean, std = (torch.tensor(v, dtype=x.dtype, device=x.device) for v in normalisation)
        return ((0.0 - mean) / std).view(1, -1, 1, 1).expand_as(x).clone()
    if kind == "blurred":
        return gradients.blurred(x, sigma)
    raise OptionError(f"unknown baseline or fill {kind!r}")


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(x).float()


def compute_map(
    model: nn.Module,
    x: torch.Tensor,
    method: str,
    target: int | None,
    *,
    layer: str | None = None,
    options: ExplainOptions = DEFAULT_OPTIONS,
    normalisation: tuple[Sequence[float], Sequence[float]] = ((0.0,) * 3, (1.0,) * 3),
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> RawMap:
    """`method`'s map of class `target` (None: the top-1) for a preprocessed (1, 3, H, W) `x`."""
    method = check_method(method)
    options.check()
    if method in CAM_METHODS:
        found = cam.layer_gradient(model, x, layer or cam.default_cam_layer(model, x), target)
        heat = cam.CAM_FUNCTIONS[method](found.activation, found.gradient)
        return RawMap(_np(heat), False, found.target, _np(found.logits[0]))
    if method == "saliency":
        heat_np, logits, chosen = gradients.saliency(model, x, target)
        return RawMap(heat_np.astype(np.float32), False, chosen, _np(logits[0]))
    logits = _logits(model, x)
    chosen = int(logits[0].argmax()) if target is None else target
    if method == "smoothgrad":
        heat_np, stopped = gradients.smoothgrad(
            model,
            x,
            chosen,
            samples=options.samples,
            noise=options.noise,
            seed=options.seed,
            batch_size=options.batch_size,
            progress=progress,
            cancelled=cancelled,
        )
        return RawMap(heat_np.astype(np.float32), False, chosen, _np(logits[0]), stopped)
    if method == "ig":
        base = reference_image(x, options.baseline, normalisation, options.blur_sigma)
        run = gradients.integrated_gradients(
            model,
            x,
            base,
            chosen,
            steps=options.steps,
            batch_size=options.batch_size,
            progress=progress,
            cancelled=cancelled,
        )
        heat_np = run.attributions.sum(axis=0).astype(np.float32)
        return RawMap(
            heat_np,
            True,
            chosen,
            _np(logits[0]),
            run.cancelled,
            run.completeness_error,
            run.evaluations,
        )
    fill = reference_image(x, options.fill, normalisation, options.blur_sigma)
    grid, heat_np, stopped = occlusion(
        model,
        x,
        fill,
        chosen,
        patch=options.patch,
        stride=options.stride,
        batch_size=options.batch_size,
        progress=progress,
        cancelled=cancelled,
    )
    return RawMap(heat_np, True, chosen, _np(logits[0]), stopped, occlusion=grid)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


@dataclass(frozen=True, eq=False)
class Explanation:
    """Why the model scores one class, as plain data a panel can draw directly."""

    method: str
    layer: str | None  # the CAM layer; None for pixel methods
    class_index: int
    class_label: str
    probability: float  # the class's softmax probability for this input
    map: np.ndarray  # float32: at the layer's resolution (CAMs) or the model input's
    upsampled: np.ndarray  # float32 (H, W) at model-input size, 0..1 (|map| if signed)
    model_input: np.ndarray  # (H, W, 3) uint8: what the model saw, de-normalised
    signed: bool  # True when `map` has meaningful negative values (IG, occlusion)
    top: tuple[ClassScore, ...]  # the model's top-5 for this input
    options: ExplainOptions
    elapsed_ms: float
    cancelled: bool = False  # a cancelled run holds the part computed so far
    completeness_error: float | None = None  # IG: |Σ attr - (f(x) - f(b))| / |f(x) - f(b)|
    ig_evaluations: int | None = None  # IG: gradient evaluations spent, refinement included
    occlusion: OcclusionGrid | None = None  # occlusion: the per-position probabilities

    @property
    def title(self) -> str:
        where = f" at {self.layer}" if self.layer else ""
        return f"{METHOD_TITLES[self.method]}{where}: {self.class_label}"


def model_input(engine: Engine, image: ImageLike) -> torch.Tensor:
    """(1, 3, H, W) on the engine's device: PIL images and uint8 (3, H, W) tensors go through
    the model's preprocessing; a float tensor is taken as already preprocessed."""
    if isinstance(image, torch.Tensor) and image.is_floating_point():
        x = image if image.ndim == 4 else image.unsqueeze(0)
    else:
        x = engine.to_tensor(image).unsqueeze(0)
    return x.to(engine.device)


def display_map(heat: np.ndarray, signed: bool, shape: tuple[int, int]) -> np.ndarray:
    """0..1 float32 at `shape`: min-max scaled at the map's resolution, then enlarged."""
    scaled = normalise(np.abs(heat) if signed else heat)
    return scaled if scaled.shape == shape else resample(scaled, shape)


def explain(
    engine: Engine,
    image: ImageLike,
    method: str,
    *,
    target_class: ClassChoice | None = None,
    layer: str | None = None,
    options: ExplainOptions = DEFAULT_OPTIONS,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> Explanation:
    """Explain `target_class` (index, name or part of one; None: the top-1) for `image`."""
    start = time.perf_counter()
    method = check_method(method)
    target = None if target_class is None else resolve_class(engine.spec.categories, target_class)
    x = model_input(engine, image)
    if method in CAM_METHODS and layer is None:
        layer = cam.default_cam_layer(engine.model, x)
    raw = compute_map(
        engine.model,
        x,
        method,
        target,
        layer=layer,
        options=options,
        normalisation=engine.spec.normalisation(),
        progress=progress,
        cancelled=cancelled,
    )
    probabilities = torch.softmax(torch.from_numpy(raw.logits), dim=0)
    return Explanation(
        method=method,
        layer=layer if method in CAM_METHODS else None,
        class_index=raw.target,
        class_label=engine.spec.categories[raw.target],
        probability=float(probabilities[raw.target]),
        map=raw.map,
        upsampled=display_map(raw.map, raw.signed, (int(x.shape[-2]), int(x.shape[-1]))),
        model_input=engine.denormalise(x[0]),
        signed=raw.signed,
        top=engine.top_classes(probabilities, 5),
        options=options,
        elapsed_ms=(time.perf_counter() - start) * 1000,
        cancelled=raw.cancelled,
        completeness_error=raw.completeness_error,
        ig_evaluations=raw.ig_evaluations,
        occlusion=raw.occlusion,
    )
