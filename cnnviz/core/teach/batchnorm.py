"""Inside a BatchNorm2d layer at inference: x → x̂ (running statistics) → γx̂ + β, per channel.

In eval mode batch norm is a fixed per-channel affine map:
x̂ = (x − running_mean) / √(running_var + ε) and y = γ·x̂ + β. The view sets the running
statistics beside the current input's own per-channel mean and variance: where they differ,
this image is unlike the training data's average, and x̂ is not centred at 0 or of unit spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from cnnviz.core.engine import Engine
from cnnviz.core.errors import UserError
from cnnviz.core.inspect.capture import find_module


class NotABatchNormLayerError(UserError, KeyError):
    """The named layer is missing or is not a BatchNorm2d layer."""


@dataclass(frozen=True, eq=False)
class BatchNormView:
    """One image at one BatchNorm2d layer (eval behaviour), per channel. Arrays are (C, H, W)
    float32 except the per-channel statistics, which are (C,) float64."""

    layer: str
    input: np.ndarray  # x
    normalised: np.ndarray  # x̂ = (x − running_mean) / √(running_var + ε)
    output: np.ndarray  # γ·x̂ + β (equals the layer's own output)
    running_mean: np.ndarray
    running_var: np.ndarray
    input_mean: np.ndarray  # this image's own per-channel mean over H×W
    input_var: np.ndarray  # ... and (biased) variance
    gamma: np.ndarray
    beta: np.ndarray
    eps: float
    layer_output_max_error: float  # |γx̂+β − the layer's output|, max over all values

    @property
    def channels(self) -> int:
        """The number of channels."""
        return int(self.input.shape[0])

    def histograms(self, channel: int, bins: int = 40) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(counts, edges) of x, x̂ and γx̂+β for one channel, each on its own range."""
        return {
            name: np.histogram(values[channel].ravel(), bins=bins)
            for name, values in (
                ("input", self.input),
                ("normalised", self.normalised),
                ("output", self.output),
            )
        }


def batchnorm_layers(model: nn.Module) -> list[str]:
    """The names of the model's BatchNorm2d layers, in module order."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]


def batchnorm_at(engine: Engine, image: Image.Image | torch.Tensor, layer: str) -> BatchNormView:
    """Run `image` through the (eval) model and look inside BatchNorm2d `layer`."""
    module = find_module(engine.model, layer)
    if not isinstance(module, nn.BatchNorm2d):
        raise NotABatchNormLayerError(f"{layer!r} is not a BatchNorm2d layer of this model")
    if module.running_mean is None or module.running_var is None:
        raise NotABatchNormLayerError(f"{layer!r} keeps no running statistics")
    seen: dict[str, torch.Tensor] = {}

    def pre(_m: nn.Module, inputs: tuple) -> None:
        seen["x"] = inputs[0].detach().clone()

    def post(_m: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        seen["y"] = output.detach().clone()  # cloned: an in-place activation follows

    handles = [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        engine.forward(engine.to_tensor(image).unsqueeze(0))
    finally:
        for h in handles:
            h.remove()
    x = seen["x"][0].double().cpu()
    mean = module.running_mean.detach().double().cpu()
    var = module.running_var.detach().double().cpu()
    ones = torch.ones_like(mean)
    gamma = module.weight.detach().double().cpu() if module.weight is not None else ones
    beta = module.bias.detach().double().cpu() if module.bias is not None else ones * 0
    xhat = (x - mean[:, None, None]) / torch.sqrt(var[:, None, None] + module.eps)
    y = gamma[:, None, None] * xhat + beta[:, None, None]
    flat = x.flatten(1)
    error = float((y - seen["y"][0].double().cpu()).abs().max())
    return BatchNormView(
        layer=layer,
        input=x.float().numpy(),
        normalised=xhat.float().numpy(),
        output=y.float().numpy(),
        running_mean=mean.numpy(),
        running_var=var.numpy(),
        input_mean=flat.mean(1).numpy(),
        input_var=flat.var(1, unbiased=False).numpy(),
        gamma=gamma.numpy(),
        beta=beta.numpy(),
        eps=float(module.eps),
        layer_output_max_error=error,
    )
