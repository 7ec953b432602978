"""`cnnviz features` and `cnnviz filters`: the layer explorer's pictures from the command line."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnviz.core.engine import Engine


def add_layer_commands(subparsers: Any) -> None:
    """Add the `features` and `filters` subcommands to cnnviz's subparsers."""
    from cnnviz.cli.common import add_model_arguments

    features = subparsers.add_parser(
        "features", help="save a layer's feature maps as one montage PNG and/or raw .npy"
    )
    features.add_argument("image", metavar="IMAGE")
    add_model_arguments(features)
    features.add_argument("--layer", required=True, metavar="LAYER", help="module or join name")
    features.add_argument("--out", metavar="grid.png", help="montage PNG to write")
    features.add_argument("--npy", metavar="acts.npy", help="raw activations to write")
    features.add_argument("--normalise", choices=("channel", "shared"), default="channel")
    features.add_argument("--order", choices=("index", "mean", "max"), default="index")
    from cnnviz.core.inspect.colormaps import MONTAGE_COLORMAPS

    features.add_argument("--colormap", choices=MONTAGE_COLORMAPS, default="viridis")
    features.add_argument(
        "--scale", type=int, default=0, metavar="N", help="pixel size in the PNG (0: automatic)"
    )
    features.set_defaults(run=run_features)

    filters = subparsers.add_parser("filters", help="save a conv layer's kernels as a PNG")
    add_model_arguments(filters)
    filters.add_argument("--layer", required=True, metavar="LAYER", help="a Conv2d module")
    filters.add_argument("--out", required=True, metavar="filters.png")
    filters.add_argument(
        "--inputs", default="all", metavar="0-15", help="input channels as columns (default all)"
    )
    filters.add_argument("--order", choices=("index", "l2"), default="index")
    filters.add_argument(
        "--grid",
        action="store_true",
        help="a first layer on RGB input: draw the kernel grid, not colour patches",
    )
    filters.add_argument("--scale", type=int, default=0, metavar="N")
    filters.set_defaults(run=run_filters)


def _check_layer(engine: Engine, name: str) -> None:
    """UnknownLayerError naming close layer names unless `name` is a module or join."""
    from cnnviz.core.inspect.capture import find_module
    from cnnviz.core.inspect.layers import conv_layers
    from cnnviz.core.inspect.text import require_layer
    from cnnviz.core.inspect.view import layer_tree_for

    if find_module(engine.model, name) is not None:
        return
    names = [node.name for node in layer_tree_for(engine).walk() if node.name]
    require_layer(name, names, engine.spec.name, convs=conv_layers(engine.model))


def _check_outputs(args: argparse.Namespace, *flags: str) -> None:
    """Refuse bad output paths and scales before the (slow) model is loaded."""
    from cnnviz.cli.common import CliError
    from cnnviz.core.inspect.export import ExportError, check_output_path

    if args.scale < 0:
        raise CliError(f"--scale must be 0 (automatic) or a positive integer, not {args.scale}")
    for flag in flags:
        path = getattr(args, flag)
        if path:
            try:
                check_output_path(path)
            except ExportError as exc:
                raise CliError(f"--{flag}: {exc}") from exc


def _weights_label(engine: Any) -> str:
    path = engine.weights.path
    return os.path.basename(path) if path else f"{engine.spec.name} weights"


def run_features(args: argparse.Namespace) -> int:
    """Montage PNG and/or .npy of one layer for one image."""
    from cnnviz.cli.common import CliError, load_engine
    from cnnviz.core.images import ImageLoadError, load_image
    from cnnviz.core.inspect.export import auto_scale, save_activations_npy, save_montage_png
    from cnnviz.core.inspect.settings import LayerSettings
    from cnnviz.core.inspect.view import build_layer_view
    from cnnviz.core.zoo.weights import require_finite_weights

    _check_outputs(args, "out", "npy")
    try:
        image = load_image(args.image)
    except ImageLoadError as exc:
        raise CliError(str(exc)) from exc
    engine = load_engine(args)
    _check_layer(engine, args.layer)
    # NaN/inf weights give maps of noise (all NaN, or NaN from inf - inf): refuse, naming them.
    require_finite_weights(engine.model, _weights_label(engine))
    settings = LayerSettings(args.layer, args.normalise, args.order, frozenset({"maps", "stats"}))
    view = build_layer_view(engine, image, settings)
    print(view.description.summary())
    stats = view.stats
    assert stats is not None
    print(
        f"  mean {stats.mean:.5g}  std {stats.std:.5g}  min {stats.min:.5g}  max {stats.max:.5g}"
        f"  zeros {stats.zero_fraction:.1%}  dead {stats.dead_channels}/{view.maps.shape[0]}"
    )
    if args.out:
        montage = view.montage
        assert montage is not None
        scale = args.scale or auto_scale(montage.image.shape, montage.tile_shape)
        save_montage_png(montage, args.out, args.colormap, scale=scale)
        rows, cols = montage.grid_shape
        print(
            f"  montage {rows}×{cols} of {montage.tile_shape[0]}×{montage.tile_shape[1]} "
            f"(×{scale}) -> {args.out}"
        )
    if args.npy:
        written = save_activations_npy(view.activation, args.npy)
        print(f"  activations {view.activation.shape} float32 -> {written}")
    return 0


def run_filters(args: argparse.Namespace) -> int:
    """The kernels of one Conv2d layer as a PNG (colour patches for an RGB first layer)."""
    from torch import nn

    from cnnviz.cli.common import CliError, load_engine
    from cnnviz.core.inspect.capture import find_module
    from cnnviz.core.inspect.export import (
        auto_scale,
        parse_channels,
        save_kernel_grid_png,
        save_patches_png,
        tile_patches,
    )
    from cnnviz.core.inspect.filters import first_layer_patches, kernel_grid

    _check_outputs(args, "out")
    engine = load_engine(args)
    _check_layer(engine, args.layer)
    module = find_module(engine.model, args.layer)
    if not isinstance(module, nn.Conv2d):
        kind = type(module).__name__ if module is not None else "join node"
        raise CliError(f"{args.layer} is a {kind}, not a Conv2d: it has no kernels to draw")
    if module.in_channels == 3 and module.groups == 1 and not args.grid:
        patches = first_layer_patches(module)
        scale = args.scale or auto_scale(tile_patches(patches).shape, patches.shape[1:3])
        save_patches_png(patches, args.out, scale=scale)
        print(f"{args.layer}: {len(patches)} colour patches (×{scale}) -> {args.out}")
        return 0
    try:
        chosen = parse_channels(args.inputs, module.in_channels // module.groups)
    except ValueError as exc:
        raise CliError(f"--inputs: {exc}") from exc
    grid = kernel_grid(module, input_channels=chosen, order=args.order)
    scale = args.scale or auto_scale(grid.image.shape, grid.cell_shape, target=16)
    save_kernel_grid_png(grid, args.out, scale=scale)
    flagged = int(grid.near_zero.sum()), int((grid.duplicate_of >= 0).sum())
    print(
        f"{args.layer}: {len(grid.order)} × {len(chosen)} kernels of "
        f"{grid.cell_shape[0]}×{grid.cell_shape[1]} (×{scale}) -> {args.out}; "
        f"{flagged[0]} near-zero, {flagged[1]} near-duplicate"
    )
    return 0
