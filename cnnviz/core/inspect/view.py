"""Everything the layer explorer shows for one layer and one input, computed without Qt."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from PIL import Image
from torch import nn

from cnnviz.core.errors import UnknownLayerError
from cnnviz.core.inspect.capture import find_module
from cnnviz.core.inspect.filters import (
    KernelGrid,
    batchnorm_params,
    first_layer_patches,
    kernel_grid,
)
from cnnviz.core.inspect.forward import LayerForward
from cnnviz.core.inspect.im2col import Im2colReport, conv_as_matmul
from cnnviz.core.inspect.layers import (
    ConvInfo,
    LayerTree,
    build_layer_tree,
    conv_info,
    conv_layers,
)
from cnnviz.core.inspect.montage import Montage, make_montage
from cnnviz.core.inspect.receptive_field import Box, receptive_field
from cnnviz.core.inspect.settings import FIRST_CONV, LayerSettings
from cnnviz.core.inspect.stats import LayerStats, activation_stats
from cnnviz.core.inspect.text import conv_geometry, format_count
from cnnviz.core.requests import ImageSource, JobContext, ModelKey, Request

if TYPE_CHECKING:
    from cnnviz.core.augment.spec import AugmentSettings
    from cnnviz.core.engine import Engine
    from cnnviz.core.session import Session

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
    parts: frozenset[str]  # which of ALL_PARTS were computed
    activation: np.ndarray
    maps: np.ndarray
    montage: Montage | None  # None when the feature-map panel is hidden
    stats: LayerStats | None  # None when the statistics panel is hidden
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


def _describe(model: nn.Module, name: str, output: torch.Tensor) -> LayerDescription:
    module = find_module(model, name)
    shape = tuple(output.shape)
    if module is None:
        # fx names a node after its function, numbered when repeated: "add", "cat_1".
        base = re.sub(r"_\d+$", "", name.rpartition(".")[2])
        kind = "concat" if base in _CAT_NAMES else "add" if base in _ADD_NAMES else "node"
        return LayerDescription(name, kind, kind if kind != "node" else "fx node", shape, 0, 0)
    conv = conv_info(module) if isinstance(module, nn.Conv2d) else None
    return LayerDescription(
        name,
        "module",
        type(module).__name__,
        shape,
        sum(p.numel() for p in module.parameters(recurse=False)),
        sum(p.numel() for p in module.parameters()),
        conv,
    )


def kernel_views(model: nn.Module, layer: str) -> tuple[KernelGrid, np.ndarray | None]:
    """Kernel grid and, for an RGB first layer, colour patches of conv `layer`."""
    conv = find_module(model, layer)
    assert isinstance(conv, nn.Conv2d), f"{layer} is not a Conv2d"
    rgb = conv.in_channels == 3 and conv.groups == 1
    return kernel_grid(conv), first_layer_patches(conv) if rgb else None


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
    """Run `image` through the engine's model once and describe layer `settings.layer`."""
    name = resolve_layer(engine.model, settings.layer)
    _prediction, seen = engine.predict_capturing(image, name, conv_input="im2col" in settings.parts)
    assert seen is not None
    return layer_view_from(engine.model, name, seen, settings)


@dataclass(frozen=True, eq=False)
class LayerPictures:
    """What is drawn from a layer's output alone: its maps, montage and statistics."""

    activation: np.ndarray
    maps: np.ndarray
    montage: Montage | None
    stats: LayerStats | None
    timings_ms: dict[str, float]


def layer_pictures(output: torch.Tensor, settings: LayerSettings) -> LayerPictures:
    """The montage and statistics of one captured output (the parts `settings` asks for).

    Needs no model: the analysis runs it on the session's helper thread while the forward
    pass that captured `output` goes on.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(what: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[what] = (now - clock) * 1000
        clock = now

    activation = output.detach().to("cpu", torch.float32).numpy()
    if activation.ndim > 1 and activation.shape[0] == 1:
        activation = activation[0]
    maps = _as_maps(activation)
    montage = None
    if "maps" in settings.parts:
        montage = make_montage(maps, normalise=settings.normalise, order=settings.order)
    lap("montage")
    stats = activation_stats(maps) if "stats" in settings.parts else None
    lap("stats")
    return LayerPictures(activation, maps, montage, stats, timings)


def layer_view_from(
    model: nn.Module,
    name: str,
    seen: LayerForward,
    settings: LayerSettings,
    kernels: Callable[[str], tuple[KernelGrid, np.ndarray | None]] | None = None,
    pictures: LayerPictures | None = None,
) -> LayerView:
    """Describe layer `name` from a forward pass that captured it; no forward of its own.

    Only the parts in `settings.parts` are computed (hidden panels cost nothing). For a
    Conv2d with the filters shown, `kernels(name)` gives its kernel views (the session's
    cache); by default they are computed from the weights. `pictures` are the output's
    montage and statistics if they were drawn already (during the forward pass).
    """
    output = seen.output
    if pictures is None:
        pictures = layer_pictures(output, settings)
    timings = dict(pictures.timings_ms)
    clock = start = time.perf_counter()

    def lap(what: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[what] = (now - clock) * 1000
        clock = now

    module = find_module(model, name)
    report = bn = None
    kernels_grid = patches = None
    note = ""
    if isinstance(module, nn.Conv2d):
        if "filters" in settings.parts:
            views = kernels(name) if kernels is not None else kernel_views(model, name)
            kernels_grid, patches = views
        lap("kernels")
        if "im2col" in settings.parts and seen.conv_input is not None:
            report, note = _im2col(module, seen.conv_input, tuple(output.shape))
        lap("im2col")
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        bn = batchnorm_params(module)
    # The pictures' own time counts, wherever (and whenever) they were drawn.
    timings["total"] = (time.perf_counter() - start) * 1000 + sum(pictures.timings_ms.values())
    return LayerView(
        layer=name,
        normalise=settings.normalise,
        order=settings.order,
        parts=settings.parts,
        activation=pictures.activation,
        maps=pictures.maps,
        montage=pictures.montage,
        stats=pictures.stats,
        description=_describe(model, name, output),
        input_shape=seen.input_size,
        kernels=kernels_grid,
        patches=patches,
        batchnorm=bn,
        im2col=report,
        im2col_note=note,
        timings_ms=timings,
    )


@dataclass(frozen=True)
class ReceptiveFieldOutcome:
    """Inclusive (top, left, bottom, right) box in model-input pixels; None if nothing flows."""

    layer: str
    channel: int
    row: int
    col: int
    box: Box | None
    input_shape: tuple[int, int]


@dataclass(frozen=True, eq=False)
class ReceptiveFieldRequest(Request[ReceptiveFieldOutcome]):
    """Which model-input pixels feed layer[channel, row, col] for the shown input."""

    lane: ClassVar[str] = "receptive-field"
    progress_label: ClassVar[str] = "Loading the model"

    model: ModelKey
    image: ImageSource
    augment: AugmentSettings | None
    layer: str
    channel: int
    row: int
    col: int

    def execute(self, session: Session, context: JobContext) -> ReceptiveFieldOutcome:
        """Trace the unit's receptive field on the analysis' (cached) model input."""
        engine = session.engine_for(self.model, context)
        x = session.model_tensor(engine, self.image, self.augment).unsqueeze(0).to(engine.device)
        box = receptive_field(engine.model, x, self.layer, self.channel, self.row, self.col)
        return ReceptiveFieldOutcome(
            self.layer,
            self.channel,
            self.row,
            self.col,
            box,
            (int(x.shape[2]), int(x.shape[3])),
        )
