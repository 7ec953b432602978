"""The `grad-cam` package as a reference for `cnnviz bench`'s explain section."""

from __future__ import annotations

import torch

HEAVY_REPEAT = 3  # rounds for the many-pass methods, which take seconds each


def gradcam_package(engine, x: torch.Tensor, layer: str, target: int):
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
