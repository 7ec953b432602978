"""Explain timings for `cnnviz bench`: every method as a ratio to a bare forward, same run.

Cheap methods (Grad-CAM, Grad-CAM++, saliency, and the `grad-cam` package's GradCAM when
it is installed) are interleaved with the bare forward `repeat` times; the many-forward
methods (SmoothGrad, integrated gradients, occlusion, with their default options) a few
times, each round with its own bare forward. Medians throughout.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from PIL import Image

HEAVY_REPEAT = 3


def _timed(fn: Callable[[], object], sync: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    sync()
    return (time.perf_counter() - start) * 1000


def _gradcam_package(engine, x: torch.Tensor, layer: str, target: int):
    """(run, close) for pytorch_grad_cam's GradCAM on the same layer, or None if absent."""
    try:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError:
        return None
    model = engine.model
    had_grad = {p: p.grad for p in model.parameters()}
    cam = GradCAM(model=model, target_layers=[dict(model.named_modules())[layer]])
    targets = [ClassifierOutputTarget(target)]

    def close() -> None:
        cam.activations_and_grads.release()
        for p, grad in had_grad.items():  # its backward fills every parameter's .grad
            p.grad = grad

    return (lambda: cam(input_tensor=x, targets=targets)), close


def explain_bench_rows(engine, image: Image.Image, repeat: int) -> list[dict[str, object]]:
    """One dict per method: section, name, median_ms, bare_forward_ms, ratio, repeat."""
    from cnnviz.core.explain.cam import default_cam_layer
    from cnnviz.core.explain.methods import explain, model_input

    x = model_input(engine, image)
    model, arch = engine.model, engine.spec.name
    layer = default_cam_layer(model, x)

    def sync() -> None:
        if engine.device.type == "cuda":
            torch.cuda.synchronize(engine.device)

    def bare() -> None:
        with torch.inference_mode():
            model(x)

    def method(name: str, source: object = x) -> Callable[[], object]:
        return lambda: explain(engine, source, name)

    target = explain(engine, x, "gradcam").class_index
    cheap: dict[str, Callable[[], object]] = {
        f"gradcam at {layer}": method("gradcam"),
        f"gradcam++ at {layer}": method("gradcam++"),
        "saliency": method("saliency"),
        "gradcam from the photo (with preprocessing)": method("gradcam", image),
    }
    package = _gradcam_package(engine, x, layer, target)
    if package is not None:
        cheap[f"grad-cam package GradCAM at {layer}"] = package[0]
    heavy = {name: method(name) for name in ("smoothgrad", "ig", "occlusion")}
    times: dict[str, list[float]] = {name: [] for name in [*cheap, *heavy]}
    bares: list[float] = []
    try:
        for fn in [bare, *cheap.values()]:  # warm-up
            fn()
        for _ in range(repeat):
            bares.append(_timed(bare, sync))
            for name, fn in cheap.items():
                times[name].append(_timed(fn, sync))
        heavy_bares: list[float] = []
        for _ in range(min(repeat, HEAVY_REPEAT)):
            for name, fn in heavy.items():
                heavy_bares.append(_timed(bare, sync))
                times[name].append(_timed(fn, sync))
    finally:
        if package is not None:
            package[1]()
    rows = []
    for name, values in times.items():
        base = statistics.median(bares if name in cheap else heavy_bares)
        median = statistics.median(values)
        rows.append(
            {
                "section": "explain",
                "name": f"{arch} {name}",
                "median_ms": round(median, 3),
                "bare_forward_ms": round(base, 3),
                "ratio": round(median / base, 3),
                "repeat": len(values),
            }
        )
    return rows
