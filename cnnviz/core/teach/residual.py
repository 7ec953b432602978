"""A residual add seen as x (the skip), F(x) (the branch) and x + F(x), on one shared scale.

The add is a node of the model's fx graph (the layer tree's join). Its two operands are
taken from the same forward pass, each cloned right where it is computed (torchvision's
blocks add in place, ``out += identity``, and apply an in-place ReLU afterwards). The skip
is the operand with the shorter path from the model input (the identity, or the
downsampling shortcut's 1×1 convolution); the other is the residual branch F(x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import fx

from cnnviz.core.engine import Engine
from cnnviz.core.errors import UnknownLayerError
from cnnviz.core.inspect.layers import _clone_before_use, _extractor, _join_kind, _trace


class NotAnAddError(UnknownLayerError):
    """The named node is not a residual addition of this model."""


@dataclass(frozen=True, eq=False)
class ResidualView:
    """One image at one residual add. Arrays are (C, H, W) float32 (batch removed)."""

    node: str
    skip_name: str  # the fx node of the skip operand x
    branch_name: str  # the fx node of the branch operand F(x)
    skip: np.ndarray  # x
    branch: np.ndarray  # F(x)
    total: np.ndarray  # x + F(x), computed here from the two operands
    node_output: np.ndarray  # the add node's own output, same forward pass
    value_range: tuple[float, float]  # (min, max) over all three: the shared scale

    @property
    def norms(self) -> dict[str, float]:
        """L2 norms of x, F(x) and x + F(x)."""
        return {
            "skip": float(np.linalg.norm(self.skip.astype(np.float64))),
            "branch": float(np.linalg.norm(self.branch.astype(np.float64))),
            "sum": float(np.linalg.norm(self.total.astype(np.float64))),
        }

    def summary(self) -> str:
        """E.g. "‖x‖ 12.3 · ‖F(x)‖ 4.5 · ‖x + F(x)‖ 13.0"."""
        n = self.norms
        return f"‖x‖ {n['skip']:.4g} · ‖F(x)‖ {n['branch']:.4g} · ‖x + F(x)‖ {n['sum']:.4g}"


def _longest_paths(graph: fx.Graph) -> dict[fx.Node, int]:
    depth: dict[fx.Node, int] = {}
    for node in graph.nodes:  # topological order
        parents = [depth[a] for a in node.all_input_nodes if a in depth]
        depth[node] = 1 + max(parents) if parents else 0
    return depth


def residual_adds(engine: Engine) -> list[str]:
    """The fx node names of the model's two-operand additions, in graph order."""
    traced = _trace(engine.model)
    out = []
    for node in traced.graph.nodes:
        found = _join_kind(node)
        if found is not None and found[0] == "add":
            out.append(traced.qualnames[node])
    return out


def residual_at(engine: Engine, image: Image.Image | torch.Tensor, node_name: str) -> ResidualView:
    """x, F(x) and x + F(x) at add node `node_name`, from one forward pass."""
    traced = _trace(engine.model)
    by_name = {q: n for n, q in traced.qualnames.items()}
    node = by_name.get(node_name)
    found = _join_kind(node) if node is not None else None
    if node is None or found is None or found[0] != "add":
        raise NotAnAddError(f"{node_name!r} is not a residual add of this model")
    operands = found[1]
    depth = _longest_paths(traced.graph)
    skip_node, branch_node = sorted(operands, key=lambda n: depth[n])
    skip_name, branch_name = traced.qualnames[skip_node], traced.qualnames[branch_node]
    extractor = _extractor(
        engine.model, {skip_name: "skip", branch_name: "branch", node_name: "sum"}
    )
    for key in ("skip", "branch", "sum"):
        _clone_before_use(extractor, key)
    x = engine.to_tensor(image).unsqueeze(0).to(engine.device)
    with torch.no_grad():
        values = extractor(x)
    skip = values["skip"][0].float().cpu()
    branch = values["branch"][0].float().cpu()
    total = skip + branch
    low = min(float(t.min()) for t in (skip, branch, total))
    high = max(float(t.max()) for t in (skip, branch, total))
    return ResidualView(
        node=node_name,
        skip_name=skip_name,
        branch_name=branch_name,
        skip=skip.numpy(),
        branch=branch.numpy(),
        total=total.numpy(),
        node_output=values["sum"][0].float().cpu().numpy(),
        value_range=(low, high),
    )
