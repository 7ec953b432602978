"""The module tree of a model in forward order, with residual adds and concatenations as joins."""

from __future__ import annotations

import itertools
import math
import operator
import warnings
import weakref
from dataclasses import dataclass
from functools import partial

import torch
import torchvision
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp
from torchvision.models.feature_extraction import NodePathTracer, create_feature_extractor

from cnnviz.core.inspect.capture import ActivationCapture, UnknownLayerError, find_module
from cnnviz.core.inspect.tree import ConvInfo, JoinNode, LayerNode, LayerTree, TreeNode

_CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_ADD_FUNCTIONS = {operator.add, operator.iadd, torch.add}
_CAT_FUNCTIONS = {torch.cat, torch.concat, torch.concatenate}
_ADD_METHODS = {"add", "add_"}
_MAX_LEAF_RETRIES = 8


@dataclass
class _Trace:
    graph: fx.Graph
    qualnames: dict[fx.Node, str]
    scopes: dict[fx.Node, str]
    leaf_types: tuple[type[nn.Module], ...]


class _ScopeTracer(NodePathTracer):
    """NodePathTracer that also records each node's owning module and the failing module."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.node_scope: dict[fx.Node, str] = {}
        self.culprit: nn.Module | None = None

    def call_module(self, m: nn.Module, forward, args, kwargs):
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            # The innermost failing module sees the exception first.
            if self.culprit is None:
                self.culprit = m
            raise

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, *rest):
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, *rest)
        self.node_scope[proxy.node] = self.current_module_qualname
        return proxy


def _tracer_kwargs(leaf_types: tuple[type[nn.Module], ...]) -> dict[str, object]:
    # Same defaults create_feature_extractor adds, so node names agree with it.
    ops_leaves = [
        obj
        for obj in vars(torchvision.ops).values()
        if isinstance(obj, type) and issubclass(obj, nn.Module)
    ]
    return {
        "autowrap_modules": (math, torchvision.ops),
        "leaf_modules": list(dict.fromkeys([*ops_leaves, *leaf_types])),
    }


_TRACES: weakref.WeakKeyDictionary[nn.Module, _Trace | str] = weakref.WeakKeyDictionary()
_EXTRACTORS: weakref.WeakKeyDictionary[nn.Module, dict[tuple[tuple[str, str], ...], nn.Module]] = (
    weakref.WeakKeyDictionary()
)


def _trace(model: nn.Module) -> _Trace:
    """Trace `model` (eval mode), making modules fx cannot trace leaves; cached per model."""
    cached = _TRACES.get(model)
    if isinstance(cached, str):
        raise RuntimeError(cached)
    if cached is not None:
        return cached
    leaf_types: tuple[type[nn.Module], ...] = ()
    was_training = model.training
    model.eval()
    try:
        for _ in range(_MAX_LEAF_RETRIES):
            tracer = _ScopeTracer(**_tracer_kwargs(leaf_types))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    graph = tracer.trace(model)
            except Exception as exc:
                culprit = tracer.culprit
                if culprit is None or culprit is model or type(culprit) in leaf_types:
                    # Cache the message, not the exception: its traceback would pin the model.
                    _TRACES[model] = f"fx cannot trace: {type(exc).__name__}: {exc}"
                    raise RuntimeError(_TRACES[model]) from None
                leaf_types = (*leaf_types, type(culprit))
                continue
            result = _Trace(graph, dict(tracer.node_to_qualname), tracer.node_scope, leaf_types)
            _TRACES[model] = result
            return result
        _TRACES[model] = f"fx tracing still failing after {_MAX_LEAF_RETRIES} leaf retries"
        raise RuntimeError(_TRACES[model])
    finally:
        model.train(was_training)


def _join_kind(node: fx.Node) -> tuple[str, list[fx.Node]] | None:
    """("add"|"concat", operand nodes) when `node` joins two or more tensors."""
    if (node.op == "call_function" and node.target in _ADD_FUNCTIONS) or (
        node.op == "call_method" and node.target in _ADD_METHODS
    ):
        operands = [a for a in node.args[:2] if isinstance(a, fx.Node)]
        return ("add", operands) if len(operands) == 2 else None
    if node.op == "call_function" and node.target in _CAT_FUNCTIONS:
        seq = node.args[0] if node.args else node.kwargs.get("tensors", ())
        operands = (
            [a for a in seq if isinstance(a, fx.Node)] if isinstance(seq, list | tuple) else []
        )
        return ("concat", operands) if len(operands) >= 2 else None
    return None


@dataclass
class _Hooked:
    """What one hooked forward pass saw, per module name."""

    calls: dict[str, list[int]]
    shapes: dict[str, tuple[int, ...] | None]


def hooked_forward(model: nn.Module, x: torch.Tensor) -> _Hooked:
    """One no-grad forward that records, per module name, the ticks of its calls (in call
    order over all modules) and its output shape; every hook is removed afterwards."""
    seen = _Hooked({}, {})
    ticks = itertools.count()

    def pre(name: str, _m: nn.Module, _inputs: tuple) -> None:
        seen.calls.setdefault(name, []).append(next(ticks))

    def post(name: str, _m: nn.Module, _inputs: tuple, output: object) -> None:
        seen.shapes[name] = tuple(output.shape) if isinstance(output, torch.Tensor) else None

    handles = []
    try:
        for name, module in model.named_modules():
            handles.append(module.register_forward_pre_hook(partial(pre, name)))
            handles.append(module.register_forward_hook(partial(post, name)))
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def conv_info(module: nn.Module) -> ConvInfo | None:
    if not isinstance(module, _CONV_TYPES):
        return None
    return ConvInfo(
        in_channels=module.in_channels,
        out_channels=module.out_channels,
        kernel_size=tuple(module.kernel_size),
        stride=tuple(module.stride),
        padding=module.padding if isinstance(module.padding, str) else tuple(module.padding),
        dilation=tuple(module.dilation),
        groups=module.groups,
    )


def _find_joins(
    model: nn.Module, x: torch.Tensor, seen: _Hooked
) -> tuple[dict[str, list[tuple[float, JoinNode]]], tuple[str, ...]]:
    """Join nodes per parent module, each with a sort key on the hook event timeline."""
    traced = _trace(model)
    shapes: dict[fx.Node, tuple[int, ...] | None] = {}
    try:
        gm = fx.GraphModule(model, traced.graph)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ShapeProp(gm).propagate(x)
        for node in traced.graph.nodes:
            meta = node.meta.pop("tensor_meta", None)
            shapes[node] = tuple(meta.shape) if hasattr(meta, "shape") else None
    except Exception:
        shapes = {}  # shapes are a nicety; the joins themselves come from the graph
    per_parent: dict[str, list[tuple[float, JoinNode]]] = {}
    module_calls: dict[str, int] = {}
    last_event = -1.0
    for node in traced.graph.nodes:
        if node.op == "call_module":
            k = module_calls.get(node.target, 0)
            module_calls[node.target] = k + 1
            events = seen.calls.get(node.target, [])
            if events:
                last_event = float(events[min(k, len(events) - 1)])
            continue
        found = _join_kind(node)
        if found is None or (shapes and shapes.get(node) is None):
            continue
        kind, operands = found
        parent = traced.scopes[node]
        inputs = tuple(
            str(a.target) if a.op == "call_module" else traced.qualnames.get(a, a.name)
            for a in operands
        )
        depth = parent.count(".") + 2 if parent else 1
        join = JoinNode(traced.qualnames[node], kind, parent, depth, inputs, shapes.get(node))
        per_parent.setdefault(parent, []).append((last_event + 0.5, join))
    return per_parent, tuple(t.__name__ for t in traced.leaf_types)


def build_layer_tree(model: nn.Module, example_input: torch.Tensor) -> LayerTree:
    """Run one forward (eval mode, no grad) and describe every module and join in call order."""
    was_training = model.training
    model.eval()
    try:
        seen = hooked_forward(model, example_input)
        try:
            joins, leaves = _find_joins(model, example_input, seen)
            joins_available, error = True, None
        except Exception as exc:  # fx cannot trace every model; the module tree still stands
            joins, leaves, joins_available = {}, (), False
            error = f"{type(exc).__name__}: {exc}"
    finally:
        model.train(was_training)
    modules = dict(model.named_modules())
    kids: dict[str, list[str]] = {name: [] for name in modules}
    for name in modules:
        if name:
            kids[name.rpartition(".")[0]].append(name)

    def node_for(name: str, depth: int) -> LayerNode:
        module = modules[name]
        keyed: list[tuple[float, int, TreeNode]] = []
        for i, child in enumerate(kids[name]):
            calls = seen.calls.get(child)
            keyed.append((calls[0] if calls else math.inf, i, node_for(child, depth + 1)))
        keyed.extend((key, -1, join) for key, join in joins.get(name, []))
        keyed.sort(key=lambda item: (item[0], item[1]))
        return LayerNode(
            name=name,
            type_name=type(module).__name__,
            depth=depth,
            children=tuple(item[2] for item in keyed),
            output_shape=seen.shapes.get(name),
            call_count=len(seen.calls.get(name, [])),
            own_params=sum(p.numel() for p in module.parameters(recurse=False)),
            total_params=sum(p.numel() for p in module.parameters()),
            conv=conv_info(module),
            ran=name in seen.calls,
        )

    return LayerTree(
        root=node_for("", 0),
        input_shape=tuple(example_input.shape),
        joins_available=joins_available,
        trace_error=error,
        traced_as_leaf=leaves,
    )


def conv_layers(model: nn.Module) -> list[str]:
    """Names of every nn.Conv2d in the model, in registration order."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def join_extractor(model: nn.Module, node_name: str) -> nn.Module:
    """A feature extractor (cached per model and node) returning {node_name: value}."""
    return _extractor(model, {node_name: node_name})


def join_extractor_with_output(model: nn.Module, node_name: str) -> nn.Module:
    """A feature extractor returning {"layer": node's value, "output": the model's output},
    so a join is seen in the same forward pass as the prediction (cached per model)."""
    traced = _trace(model)
    output_node = next(n for n in traced.graph.nodes if n.op == "output")
    last = output_node.args[0]
    if not isinstance(last, fx.Node) or last not in traced.qualnames:
        raise UnknownLayerError(f"cannot capture {node_name!r} with this model's output")
    extractor = _extractor(model, {node_name: "layer", traced.qualnames[last]: "output"})
    _clone_before_use(extractor, "layer")
    return extractor


def _clone_before_use(extractor: nn.Module, key: str) -> None:
    """Make the extractor return a clone of output `key`, taken right where it is computed.

    Torchvision's blocks apply in-place ReLUs to a residual sum; without the clone the
    returned "sum" would be the ReLU's output by the time the forward pass ends.
    """
    assert isinstance(extractor, fx.GraphModule)
    graph = extractor.graph
    output = next(n for n in graph.nodes if n.op == "output")
    returned = dict(output.args[0])
    node = returned[key]
    if getattr(node, "target", None) is torch.clone:
        return  # cached extractor, already done
    with graph.inserting_after(node):
        copy = graph.call_function(torch.clone, (node,))
    returned[key] = copy
    output.args = (returned,)
    extractor.recompile()


def _extractor(model: nn.Module, return_nodes: dict[str, str]) -> nn.Module:
    per_model = _EXTRACTORS.setdefault(model, {})
    key = tuple(sorted(return_nodes.items()))
    if key not in per_model:
        leaf_types = _trace(model).leaf_types
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                extractor = create_feature_extractor(
                    model,
                    return_nodes=return_nodes,
                    tracer_kwargs={"leaf_modules": list(leaf_types)},
                    suppress_diff_warning=True,
                )
        except Exception as exc:  # fx's own error types vary; the name is what was wrong
            names = ", ".join(repr(n) for n in return_nodes)
            raise UnknownLayerError(f"no module or fx node {names}: {exc}") from exc
        per_model[key] = extractor.eval()
    return per_model[key]


def layer_output(model: nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    """The value of module `name`, or of join (or any fx) node `name`, for `x` (eval, no grad)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if find_module(model, name) is not None:
                with ActivationCapture(model, [name]) as cap:
                    model(x)
                return cap.last(name)
            return join_extractor(model, name)(x)[name].detach().clone()
    finally:
        model.train(was_training)
