"""A model's layer tree as plain data: modules and joins in forward order (no torch)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class ConvInfo:
    """Geometry of a convolution layer."""

    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...] | str
    dilation: tuple[int, ...]
    groups: int


@dataclass(frozen=True)
class JoinNode:
    """A residual addition or a concatenation: an fx graph node, not a module.

    `name` is the torchvision feature-extraction node name, so
    `create_feature_extractor(model, [name])` (or `layer_output`) returns its value.
    `inputs` names what is joined: a module name where the operand is a module call's
    output, otherwise the operand's node name ("x" for the model input).
    """

    name: str
    kind: str  # "add" or "concat"
    parent: str
    depth: int
    inputs: tuple[str, ...]
    output_shape: tuple[int, ...] | None


@dataclass(frozen=True)
class LayerNode:
    """One module; `children` mixes submodules and joins in forward order."""

    name: str
    type_name: str
    depth: int
    children: tuple[LayerNode | JoinNode, ...]
    output_shape: tuple[int, ...] | None
    call_count: int
    own_params: int
    total_params: int
    conv: ConvInfo | None = None
    ran: bool = True


TreeNode = LayerNode | JoinNode


@dataclass(frozen=True)
class LayerTree:
    """A model's module hierarchy in forward order, plus join nodes where fx could trace it."""

    root: LayerNode
    input_shape: tuple[int, ...]
    joins_available: bool
    trace_error: str | None = None
    # Module types fx could not trace through and so treated as opaque leaves.
    traced_as_leaf: tuple[str, ...] = field(default=())

    def walk(self) -> Iterator[TreeNode]:
        """Every node, depth first, in forward order (the root first)."""
        stack: list[TreeNode] = [self.root]
        while stack:
            node = stack.pop()
            yield node
            if isinstance(node, LayerNode):
                stack.extend(reversed(node.children))

    @cached_property
    def _index(self) -> dict[str, TreeNode]:
        return {node.name: node for node in self.walk()}

    def __contains__(self, name: object) -> bool:
        """Whether a module or join node is called `name` (from the cached index)."""
        return name in self._index

    def find(self, name: str) -> TreeNode:
        """The module or join node called `name` (KeyError if absent)."""
        return self._index[name]

    def modules(self) -> list[LayerNode]:
        """All module nodes, depth first, in forward order."""
        return [n for n in self.walk() if isinstance(n, LayerNode)]

    def joins(self) -> list[JoinNode]:
        """All join nodes in forward order."""
        return [n for n in self.walk() if isinstance(n, JoinNode)]
