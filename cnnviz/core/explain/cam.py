"""Grad-CAM and Grad-CAM++ at any module, with a backward that starts at that module.

The forward runs with autograd off up to the chosen module; a forward hook there turns
autograd on and hands the rest of the network a fresh leaf (the module's output, detached,
requiring grad). The graph therefore starts at the layer: nothing upstream is recorded,
and the backward from the class logit only walks the few modules after it. At the last
conv block this makes Grad-CAM cost about one plain forward.
"""

from __future__ import annotations

import difflib
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from cnnviz.core.errors import UserError
from cnnviz.core.inspect.capture import UnknownLayerError

_EPS = 1e-6  # Grad-CAM++'s guard against 0/0, as in the paper's reference code


class NotSpatialLayerError(UserError):
    """A layer whose output is not a (N, C, H, W) map, or that does not feed the logits."""


@dataclass(frozen=True)
class LayerGradient:
    """A layer's activation and the gradient of one logit with respect to it."""

    activation: torch.Tensor  # (1, C, h, w)
    gradient: torch.Tensor  # (1, C, h, w)
    logits: torch.Tensor  # (1, classes), detached
    target: int  # the class whose logit was differentiated


def _module(model: nn.Module, name: str) -> nn.Module:
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        close = difflib.get_close_matches(name, [n for n in modules if n], n=4, cutoff=0.6)
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise UnknownLayerError(f"model has no layer named {name!r}{hint}")
    return modules[name]


def layer_gradient(
    model: nn.Module, x: torch.Tensor, layer: str, target: int | None
) -> LayerGradient:
    """One forward of `x` (1, 3, H, W) and a backward from logit `target` (None: the top-1)
    to `layer` only.

    A module that runs several times in one forward (a shared ReLU) is explained at its
    last call, as the layer explorer shows it.
    """
    module = _module(model, layer)
    leaves: list[torch.Tensor] = []

    def hook(_m: nn.Module, _inputs: tuple, output: object) -> torch.Tensor:
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output)
            raise NotSpatialLayerError(
                f"layer {layer!r} outputs {shape}, not a (N, C, H, W) feature map; "
                "pick a convolution or a block of them"
            )
        torch.set_grad_enabled(True)  # from here on: record the graph (no_grad restores it)
        leaf = output.detach().requires_grad_()
        leaves.append(leaf)
        # A clone, so that an in-place op downstream (ReLU(inplace=True)) leaves the leaf intact.
        return leaf.clone()

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            logits = model(x)
            if not leaves:
                raise UnknownLayerError(f"layer {layer!r} did not run in this forward pass")
            if not logits.requires_grad:
                raise NotSpatialLayerError(f"layer {layer!r} does not feed the model's output")
            chosen = int(logits[0].argmax()) if target is None else target
            (grad,) = torch.autograd.grad(logits[0, chosen], leaves[-1], allow_unused=True)
    finally:
        handle.remove()
    activation = leaves[-1].detach()
    if grad is None:
        grad = torch.zeros_like(activation)
    return LayerGradient(activation, grad, logits.detach(), chosen)


def gradcam_map(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017): ReLU of the activation weighted by mean gradients."""
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * activation).sum(dim=1))[0]


def gradcam_plus_plus_map(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ (Chattopadhyay et al. 2018, eq. 19, exponential-output closed form)."""
    g2 = gradient.pow(2)
    g3 = g2 * gradient
    total = activation.sum(dim=(2, 3), keepdim=True)
    alpha = g2 / (2 * g2 + total * g3 + _EPS)
    alpha = torch.where(gradient != 0, alpha, torch.zeros_like(alpha))
    weights = (torch.relu(gradient) * alpha).sum(dim=(2, 3), keepdim=True)
    return torch.relu((weights * activation).sum(dim=1))[0]


CAM_FUNCTIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "gradcam": gradcam_map,
    "gradcam++": gradcam_plus_plus_map,
}


_DEFAULT_LAYERS: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, ...], str]] = (
    weakref.WeakKeyDictionary()
)


def _has_conv(module: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in module.modules())


def default_cam_layer(model: nn.Module, x: torch.Tensor) -> str:
    """The model's last conv block: the innermost module containing a Conv2d that returns the
    last spatial (H, W > 1×1) 4-D output of the forward, i.e. the map global pooling reads."""
    per_model = _DEFAULT_LAYERS.setdefault(model, {})
    key = tuple(x.shape[1:])
    if key not in per_model:
        per_model[key] = _find_default_layer(model, x)
    return per_model[key]


def _find_default_layer(model: nn.Module, x: torch.Tensor) -> str:
    # (name, data pointer, shape) per forward-hook call, in call order: nested modules that
    # return the same tensor fire one after the other, innermost first.
    events: list[tuple[str, int, tuple[int, ...]]] = []

    def record(name: str) -> Callable[..., None]:
        def hook(_m: nn.Module, _inputs: tuple, output: object) -> None:
            if isinstance(output, torch.Tensor):
                events.append((name, output.data_ptr(), tuple(output.shape)))

        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in model.named_modules() if n]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    modules = dict(model.named_modules())
    spatial = [
        i
        for i, (name, _, shape) in enumerate(events)
        if len(shape) == 4 and shape[2] * shape[3] > 1 and _has_conv(modules[name])
    ]
    if not spatial:
        raise NotSpatialLayerError("this model has no convolution with a spatial output")
    last = spatial[-1]
    _, ptr, shape = events[last]
    first = last
    while first > 0 and events[first - 1][1:] == (ptr, shape):
        first -= 1
    same = [events[i][0] for i in range(first, last + 1) if _has_conv(modules[events[i][0]])]
    return max(same, key=lambda n: n.count("."))
