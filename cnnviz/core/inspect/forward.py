"""One forward pass that also captures one layer, module or join, for the layer explorer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from cnnviz.core.inspect.capture import ActivationCapture, find_module
from cnnviz.core.inspect.layers import join_extractor_with_output

# Called with the layer's (cloned) output while the rest of the forward pass goes on.
OnCaptured = Callable[[torch.Tensor], None]


@dataclass(frozen=True, eq=False)
class LayerForward:
    """One forward pass that also saw one layer: the logits, the layer's output (batch kept)
    and, for a convolution when asked, its input. Tensors: this stays inside the core."""

    logits: torch.Tensor
    output: torch.Tensor
    input_size: tuple[int, int]  # (height, width) of the model input
    conv_input: torch.Tensor | None = None


def forward_capturing(
    model: nn.Module,
    x: torch.Tensor,
    name: str,
    *,
    conv_input: bool = False,
    on_captured: OnCaptured | None = None,
) -> LayerForward:
    """Run `model` on `x` once and capture module or join node `name` in the same pass.

    A module is captured with hooks; a join (an fx node such as a residual add) through a
    feature extractor that returns the join and the model's output together. A module's
    output goes to `on_captured` as soon as the module has run (each time it runs), so that
    drawing it can start while the forward pass goes on; a join's after the pass.
    """
    size = (int(x.shape[-2]), int(x.shape[-1]))
    module = find_module(model, name)
    if module is None:
        outputs = join_extractor_with_output(model, name)(x)
        joined = outputs["layer"].detach().clone()
        if on_captured is not None:
            on_captured(joined)
        return LayerForward(outputs["output"], joined, size)
    seen_input: list[torch.Tensor] = []
    handles = []
    try:
        if conv_input and isinstance(module, nn.Conv2d):
            # Cloned: a later in-place op (a ReLU, a residual +=) may overwrite the tensor.
            handles.append(
                module.register_forward_pre_hook(
                    lambda _m, inputs: seen_input.append(inputs[0].detach().clone())
                )
            )
        with ActivationCapture(model, [name], on_captured=on_captured) as capture:
            logits = model(x)
        return LayerForward(
            logits, capture.last(name), size, seen_input[-1] if seen_input else None
        )
    finally:
        for handle in handles:
            handle.remove()
