"""Forward-hook activation capture that always removes its hooks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

import torch
from torch import nn

from cnnviz.core.errors import UnknownLayerError

__all__ = ["ActivationCapture", "LayerForward", "UnknownLayerError", "forward_capturing"]


class ActivationCapture:
    """Record the outputs of named submodules during forward passes.

    Outputs are detached clones, because torchvision's ReLUs run in place and would
    otherwise overwrite what was captured. A module that runs several times in one
    forward (a shared activation, say) gets one entry per call, in call order.
    """

    def __init__(self, model: nn.Module, layer_names: Iterable[str]) -> None:
        modules = dict(model.named_modules())
        self._targets: dict[str, nn.Module] = {}
        for name in layer_names:
            if name not in modules:
                raise UnknownLayerError(f"model has no layer named {name!r}")
            self._targets[name] = modules[name]
        self.outputs: dict[str, list[torch.Tensor]] = {name: [] for name in self._targets}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> ActivationCapture:
        for name, module in self._targets.items():
            self._handles.append(module.register_forward_hook(self._recorder(name)))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _recorder(self, name: str):
        def hook(_module: nn.Module, _inputs: tuple, output: object) -> None:
            if isinstance(output, torch.Tensor):
                self.outputs[name].append(output.detach().clone())

        return hook

    def last(self, name: str) -> torch.Tensor:
        """The output of the most recent call of layer `name`."""
        calls = self.outputs[name]
        if not calls:
            raise UnknownLayerError(f"layer {name!r} did not run in this forward pass")
        return calls[-1]


@dataclass(frozen=True, eq=False)
class LayerForward:
    """One forward pass that also saw one layer: the logits, the layer's output (batch kept)
    and, for a convolution when asked, its input. Tensors: this stays inside the core."""

    logits: torch.Tensor
    output: torch.Tensor
    input_size: tuple[int, int]  # (height, width) of the model input
    conv_input: torch.Tensor | None = None


def forward_capturing(
    model: nn.Module, x: torch.Tensor, name: str, *, conv_input: bool = False
) -> LayerForward:
    """Run `model` on `x` once and capture module or join node `name` in the same pass.

    A module is captured with hooks; a join (an fx node such as a residual add) through a
    feature extractor that returns the join and the model's output together.
    """
    size = (int(x.shape[-2]), int(x.shape[-1]))
    module = dict(model.named_modules()).get(name)
    if module is None:
        from cnnviz.core.inspect.layers import join_extractor_with_output

        outputs = join_extractor_with_output(model, name)(x)
        return LayerForward(outputs["output"], outputs["layer"].detach().clone(), size)
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
        with ActivationCapture(model, [name]) as capture:
            logits = model(x)
        return LayerForward(
            logits, capture.last(name), size, seen_input[-1] if seen_input else None
        )
    finally:
        for handle in handles:
            handle.remove()
