"""Forward-hook activation capture that always removes its hooks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType

import torch
from torch import nn

from cnnviz.core.errors import UnknownLayerError

__all__ = ["ActivationCapture", "UnknownLayerError", "find_module"]


def find_module(model: nn.Module, name: str) -> nn.Module | None:
    """The submodule called `name` ("" is the model), or None (a join node, a typo).

    Walks the dotted path instead of building the whole named_modules() map, which costs
    milliseconds per call on a large model (it ran several times per live update).
    """
    try:
        return model.get_submodule(name)
    except AttributeError:
        return None


class ActivationCapture:
    """Record the outputs of named submodules during forward passes.

    Outputs are detached clones, because torchvision's ReLUs run in place and would
    otherwise overwrite what was captured. A module that runs several times in one
    forward (a shared activation, say) gets one entry per call, in call order, and each
    is handed to `on_captured` (if given) as it is recorded.
    """

    def __init__(
        self,
        model: nn.Module,
        layer_names: Iterable[str],
        *,
        on_captured: Callable[[torch.Tensor], None] | None = None,
    ) -> None:
        self._on_captured = on_captured
        self._targets: dict[str, nn.Module] = {}
        for name in layer_names:
            module = find_module(model, name)
            if module is None:
                raise UnknownLayerError(f"model has no layer named {name!r}")
            self._targets[name] = module
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
                captured = output.detach().clone()
                self.outputs[name].append(captured)
                if self._on_captured is not None:
                    self._on_captured(captured)

        return hook

    def last(self, name: str) -> torch.Tensor:
        """The output of the most recent call of layer `name`."""
        calls = self.outputs[name]
        if not calls:
            raise UnknownLayerError(f"layer {name!r} did not run in this forward pass")
        return calls[-1]
