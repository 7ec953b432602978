"""Which input pixels influence one feature-map position, found by backpropagation."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from cnnviz.core.inspect.capture import UnknownLayerError
from cnnviz.core.inspect.layers import join_extractor

Box = tuple[int, int, int, int]

_aten = torch.ops.aten
# Backward kernels of element-wise activations whose local slope can be exactly zero
# (an inactive ReLU, a saturated sigmoid) or underflow to zero.
_GATED_ACTIVATION_BACKWARDS = {
    _aten.threshold_backward.default,
    _aten.hardtanh_backward.default,
    _aten.hardswish_backward.default,
    _aten.hardsigmoid_backward.default,
    _aten.silu_backward.default,
    _aten.gelu_backward.default,
    _aten.sigmoid_backward.default,
    _aten.tanh_backward.default,
    _aten.elu_backward.default,
    _aten.softplus_backward.default,
    _aten.leaky_relu_backward.default,
}


class _StructuralBackward(TorchDispatchMode):
    """Backward in which no activation or max-pool blocks a path the architecture has.

    Activation slopes become 1 and a max-pool spreads each gradient over its whole window
    (as average pooling does) instead of to the single maximum, so the nonzero input
    gradient covers exactly the pixels connected to the chosen unit.
    """

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _GATED_ACTIVATION_BACKWARDS:
            return args[0]
        if func is _aten.max_pool2d_with_indices_backward.default:
            grad, inp, kernel, stride, padding, dilation, ceil_mode, _ = args
            if all(d == 1 for d in dilation):
                return _aten.avg_pool2d_backward.default(
                    grad, inp, kernel, stride, padding, ceil_mode, True, None
                )
        if func is _aten.adaptive_max_pool2d_backward.default:
            return _aten._adaptive_avg_pool2d_backward.default(args[0], args[1])
        return func(*args, **kwargs)


def _selected(output: torch.Tensor, channel: int, row: int, col: int) -> torch.Tensor:
    """Sum over the batch of the chosen unit (a new tensor, so later in-place ops leave it be)."""
    if output.dim() == 4:
        _, c, h, w = output.shape
        if not (0 <= channel < c and 0 <= row < h and 0 <= col < w):
            raise IndexError(f"({channel}, {row}, {col}) is outside an output of shape {(c, h, w)}")
        return output[:, channel, row, col].sum()
    if output.dim() == 2:  # a flat (N, features) layer: every pixel may matter
        if not 0 <= channel < output.shape[1]:
            raise IndexError(f"feature {channel} is outside an output of width {output.shape[1]}")
        return output[:, channel].sum()
    raise ValueError(f"cannot pick a position in an output of shape {tuple(output.shape)}")


def _unit_value(
    model: nn.Module, batch: torch.Tensor, layer: str, channel: int, row: int, col: int
) -> torch.Tensor:
    modules = dict(model.named_modules())
    if layer not in modules:
        try:
            extractor = join_extractor(model, layer)
        except Exception as exc:
            raise UnknownLayerError(f"model has no layer or join node named {layer!r}") from exc
        extractor.eval()
        return _selected(extractor(batch)[layer], channel, row, col)
    picked: list[torch.Tensor] = []

    def hook(_m: nn.Module, _inputs: tuple, output: object) -> None:
        if not isinstance(output, torch.Tensor):
            raise ValueError(f"layer {layer!r} does not output a tensor")
        # Picked at once because torchvision's in-place ReLUs may later overwrite `output`.
        picked.append(_selected(output, channel, row, col))

    handle = modules[layer].register_forward_hook(hook)
    try:
        model(batch)
    finally:
        handle.remove()
    if not picked:
        raise UnknownLayerError(f"layer {layer!r} did not run in this forward pass")
    return picked[-1]  # the last call, matching what layer_output shows


def receptive_field(
    model: nn.Module,
    x: torch.Tensor,
    layer: str,
    channel: int,
    row: int,
    col: int,
    *,
    structural: bool = True,
) -> Box | None:
    """Inclusive (top, left, bottom, right) input box influencing `layer`[channel, row, col].

    The box bounds the nonzero gradient of that unit with respect to the input. With
    `structural` (the default) the backward pass ignores activation gating and max-pool
    winner selection, giving the architecture's receptive field (clipped to the image);
    without it, the plain gradient gives only what influences the unit for this `x`
    (empty, hence None, for a ReLU that is off). A module that runs several times is
    taken at its last call, as layer_output shows. `layer` may also be a join node name.
    The model runs in eval mode and its mode is restored; `.grad` of parameters is
    untouched.
    """
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one (1, C, H, W) input, got shape {tuple(x.shape)}")
    image = x.detach().clone().requires_grad_(True)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            value = _unit_value(model, image, layer, channel, row, col)
            if not value.requires_grad:
                return None
            if structural:
                with _StructuralBackward():
                    (grad,) = torch.autograd.grad(value, image, allow_unused=True)
            else:
                (grad,) = torch.autograd.grad(value, image, allow_unused=True)
    finally:
        model.train(was_training)
    if grad is None:
        return None
    touched = grad.detach()[0].abs().sum(dim=0) > 0
    rows = torch.nonzero(touched.any(dim=1)).flatten()
    cols = torch.nonzero(touched.any(dim=0)).flatten()
    if rows.numel() == 0:
        return None
    return (int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1]))
