"""Everything the layer explorer shows for one layer and one input, computed without Qt."""

from __future__ import annotations

import math
import re
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from cnnviz.core.inspect.capture import UnknownLayerError
from cnnviz.core.inspect.export import (  # noqa: F401 - the export helpers live here too
    arrange_kernels,
    auto_scale,
    parse_channels,
    save_activations_npy,
    save_kernel_grid_png,
    save_montage_png,
    save_patches_png,
    tile_patches,
    wrap_kernels,
)
from cnnviz.core.inspect.filters import (
    KernelGrid,
    batchnorm_params,
    first_layer_patches,
    kernel_grid,
)
from cnnviz.core.inspect.im2col import Im2colReport, conv_as_matmul
from cnnviz.core.inspect.layers import (
    ConvInfo,
    LayerTree,
    build_layer_tree,
    conv_layers,
    layer_output,
)
from cnnviz.core.inspect.montage import Montage, make_montage
from cnnviz.core.inspect.receptive_field import Box, receptive_field
from cnnviz.core.inspect.stats import LayerStats, activation_stats

if TYPE_CHECKING:
    from cnnviz.core.engine import Engine
    from cnnviz.core.session import AugmentSettings, LayerSettings, ModelKey, Session

# Asking for this layer name selects the model's first Conv2d (the explorer's default).
FIRST_CONV = "@first-conv"
# Past this the unfolded matrix is not built: it would cost more memory than it teaches.
IM2COL_MAX_BYTES = 256 * 2**20
_CAT_NAMES = {"cat", "concat", "concatenate"}
_ADD_NAMES = {"add", "iadd", "add_"}


@dataclass(frozen=True)
class LayerDescription:
    """What a layer is: its type, output shape, parameter counts and convolution geometry."""

    name: str
    kind: str  # "module", "add" or "concat"
    type_name: str
    output_shape: tuple[int, ...]
    own_params: int
    total_params: int
    conv: ConvInfo | None = None
    inputs: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line such as "features.0 · Conv2d · 64×55×55 · 23.3k params · k11 s4 p2"."""
        shape = "×".join(str(s) for s in self.output_shape[1:]) or "scalar"
        parts = [self.name or "(model)", self.type_name, shape]
        if self.kind == "module":
            parts.append(f"{format_count(self.total_params)} params")
        elif self.inputs:
            parts.append(" + ".join(self.inputs) if self.kind == "add" else ", ".join(self.inputs))
        if self.conv is not None:
            parts.append(conv_geometry(self.conv))
        return " · ".join(parts)


def format_count(n: int) -> str:
    """1234 -> "1.2k", 25_600_000 -> "25.6M"."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= limit:
            return f"{n / limit:.1f}{suffix}"
    return str(n)


def conv_geometry(conv: ConvInfo) -> str:
    """Kernel, stride, padding (and groups, dilation when not 1) as "k3 s2 p1 g32"."""

    def side(values: tuple[int, ...] | str) -> str:
        if isinstance(values, str):
            return values
        return str(values[0]) if len(set(values)) == 1 else "×".join(map(str, values))

    text = f"k{side(conv.kernel_size)} s{side(conv.stride)} p{side(conv.padding)}"
    if conv.groups != 1:
        text += f" g{conv.groups}"
    if any(d != 1 for d in conv.dilation):
        text += f" d{side(conv.dilation)}"
    return text


@dataclass(frozen=True, eq=False)
class LayerView:
    """One layer for one input: activation, montage, statistics and parameter views.

    `activation` is exactly the layer's output with the batch dimension dropped; `maps` is
    the same values as (C, H, W) float32 (a flat (F,) output becomes F channels of 1×1),
    which the montage and statistics use. Kernel views exist for Conv2d layers
    (`patches` only for 3-channel input), `batchnorm` for BatchNorm layers, and `im2col`
    for Conv2d layers unless `im2col_note` says why not.
    """

    layer: str
    normalise: str
    order: str
    activation: np.ndarray
    maps: np.ndarray
    montage: Montage
    stats: LayerStats
    description: LayerDescription
    input_shape: tuple[int, int]
    kernels: KernelGrid | None = None
    patches: np.ndarray | None = None
    batchnorm: dict[str, np.ndarray] | None = None
    im2col: Im2colReport | None = None
    im2col_note: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)


def example_input(engine: Engine) -> torch.Tensor:
    """A zero (1, 3, S, S) input at the architecture's input size on the engine's device."""
    size = engine.spec.input_size
    return torch.zeros(1, 3, size, size, device=engine.device)


def layer_tree_for(engine: Engine) -> LayerTree:
    """The layer tree of the engine's model, traced at its input size on its device."""
    return build_layer_tree(engine.model, example_input(engine))


def resolve_layer(model: nn.Module, name: str) -> str:
    """`name`, or the first Conv2d's name for FIRST_CONV."""
    if name != FIRST_CONV:
        return name
    convs = conv_layers(model)
    if not convs:
        raise UnknownLayerError("this model has no Conv2d layer")
    return convs[0]


def _as_maps(activation: np.ndarray) -> np.ndarray:
    """Any layer output (batch dropped) as (C, H, W) for tiling and statistics."""
    if activation.ndim == 3:
        return activation
    if activation.ndim == 2:
        return activation[None]
    if activation.ndim <= 1:
        return activation.reshape(-1, 1, 1)
    return activation.reshape(-1, *activation.shape[-2:])


def _run_layer(
    model: nn.Module, x: torch.Tensor, name: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The layer's output and, for a module, its (last call's) first input."""
    module = dict(model.named_modules()).get(name)
    seen: list[torch.Tensor] = []
    handle = None
    if isinstance(module, nn.Conv2d):
        # Cloned: a later in-place op (a ReLU, a residual +=) may overwrite the tensor.
        handle = module.register_forward_pre_hook(
            lambda _m, inputs: seen.append(inputs[0].detach().clone())
        )
    try:
        output = layer_output(model, x, name)
    finally:
        if handle is not None:
            handle.remove()
    return output, (seen[-1] if seen else None)


def _describe(model: nn.Module, name: str, output: torch.Tensor) -> LayerDescription:
    module = dict(model.named_modules()).get(name)
    shape = tuple(output.shape)
    if module is None:
        # fx names a node after its function, numbered when repeated: "add", "cat_1".
        base = re.sub(r"_\d+$", "", name.rpartition(".")[2])
        kind = "concat" if base in _CAT_NAMES else "add" if base in _ADD_NAMES else "node"
        return LayerDescription(name, kind, kind if kind != "node" else "fx node", shape, 0, 0)
    conv = None
    if isinstance(module, nn.Conv2d):
        conv = ConvInfo(
            module.in_channels,
            module.out_channels,
            tuple(module.kernel_size),
            tuple(module.stride),
            module.padding if isinstance(module.padding, str) else tuple(module.padding),
            tuple(module.dilation),
            module.groups,
        )
    return LayerDescription(
        name,
        "module",
        type(module).__name__,
        shape,
        sum(p.numel() for p in module.parameters(recurse=False)),
        sum(p.numel() for p in module.parameters()),
        conv,
    )


_KERNEL_VIEWS: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, KernelGrid, Any]] = (
    weakref.WeakKeyDictionary()
)


def _kernel_views(conv: nn.Conv2d) -> tuple[KernelGrid, np.ndarray | None]:
    """Kernel grid and (RGB first layer) patches, cached until the weights change."""
    # A new image or montage setting re-renders the same layer; the weights are the same,
    # and the duplicate search is the slow part (~70 ms for a 512x512x3x3 conv).
    weight = conv.weight
    key = (weight.data_ptr(), weight._version, tuple(weight.shape))
    cached = _KERNEL_VIEWS.get(conv)
    if cached is None or cached[0] != key:
        rgb = conv.in_channels == 3 and conv.groups == 1
        cached = (key, kernel_grid(conv), first_layer_patches(conv) if rgb else None)
        _KERNEL_VIEWS[conv] = cached
    return cached[1], cached[2]


def _im2col(conv: nn.Conv2d, conv_input: torch.Tensor, output_shape: tuple[int, ...]):
    positions = math.prod(output_shape[2:])
    k = conv.in_channels * math.prod(conv.kernel_size)
    size = k * positions * 4
    if size > IM2COL_MAX_BYTES:
        return None, f"the unfolded input would take {size / 2**20:.0f} MiB; not built"
    return conv_as_matmul(conv, conv_input), ""


def build_layer_view(
    engine: Engine, image: Image.Image | torch.Tensor, settings: LayerSettings
) -> LayerView:
    """Run `image` through the engine's model and describe layer `settings.layer` for it."""
    timings: dict[str, float] = {}
    start = clock = time.perf_counter()

    def lap(what: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[what] = (now - clock) * 1000
        clock = now

    model = engine.model
    name = resolve_layer(model, settings.layer)
    x = engine.to_tensor(image).unsqueeze(0).to(engine.device)
    output, conv_input = _run_layer(model, x, name)
    lap("forward")
    activation = output.detach().to("cpu", torch.float32).numpy()
    if activation.ndim > 1 and activation.shape[0] == 1:
        activation = activation[0]
    maps = _as_maps(activation)
    montage = make_montage(maps, normalise=settings.normalise, order=settings.order)
    lap("montage")
    stats = activation_stats(maps)
    lap("stats")
    module = dict(model.named_modules()).get(name)
    kernels = patches = bn = report = None
    note = ""
    if isinstance(module, nn.Conv2d):
        kernels, patches = _kernel_views(module)
        lap("kernels")
        if conv_input is not None:
            report, note = _im2col(module, conv_input, tuple(output.shape))
        lap("im2col")
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        bn = batchnorm_params(module)
    timings["total"] = (time.perf_counter() - start) * 1000
    return LayerView(
        layer=name,
        normalise=settings.normalise,
        order=settings.order,
        activation=activation,
        maps=maps,
        montage=montage,
        stats=stats,
        description=_describe(model, name, output),
        input_shape=(int(x.shape[2]), int(x.shape[3])),
        kernels=kernels,
        patches=patches,
        batchnorm=bn,
        im2col=report,
        im2col_note=note,
        timings_ms=timings,
    )


@dataclass(frozen=True)
class ReceptiveFieldOutcome:
    """Inclusive (top, left, bottom, right) box in model-input pixels; None if nothing flows."""

    request_id: int
    layer: str
    channel: int
    row: int
    col: int
    box: Box | None
    input_shape: tuple[int, int]


@dataclass(frozen=True, eq=False)
class ReceptiveFieldRequest:
    """Ask the worker which model-input pixels feed layer[channel, row, col]."""

    request_id: int
    model: ModelKey
    image: str | bytes
    augment: AugmentSettings | None
    layer: str
    channel: int
    row: int
    col: int
    progress_label = "Loading the model"

    def execute(
        self,
        session: Session,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> ReceptiveFieldOutcome:
        """Rebuild the analysis' model input and trace the receptive field of the unit."""
        engine = session.engine_for(self.model, progress=progress, cancelled=cancelled)
        image = session.image_for(self.image)
        model_image: Image.Image | torch.Tensor = image
        if self.augment is not None:
            model_image = session.run_lab(engine, image, self.augment).augmented_tensor
        x = engine.to_tensor(model_image).unsqueeze(0).to(engine.device)
        box = receptive_field(engine.model, x, self.layer, self.channel, self.row, self.col)
        return ReceptiveFieldOutcome(
            self.request_id,
            self.layer,
            self.channel,
            self.row,
            self.col,
            box,
            (int(x.shape[2]), int(x.shape[3])),
        )
