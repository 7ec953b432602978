"""What every subcommand shares: the user-error type, model and augmentation options."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from cnnviz.defaults import DEFAULT_ARCH

if TYPE_CHECKING:
    from cnnviz.core.engine import Engine

EXIT_BAD_INPUT = 2


class CliError(Exception):
    """A user error reported as one line on stderr with exit code 2."""


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--arch",
        default=DEFAULT_ARCH,
        metavar="NAME",
        help=f"architecture (default {DEFAULT_ARCH}; see `cnnviz models`)",
    )
    parser.add_argument(
        "--weights",
        metavar="FILE",
        help="a .pth/.pt/.safetensors state dict (default: the bundled or cached weights)",
    )
    parser.add_argument("--device", metavar="D", help="cpu, cuda or mps (default: best available)")
    parser.add_argument(
        "--download",
        action="store_true",
        help="download torchvision weights if they are not cached (default: no download)",
    )


def add_augment_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--augment",
        metavar="SPEC",
        help='torchvision v2 augmentations, e.g. "RandomHorizontalFlip(p=1.0); '
        'RandomRotation(degrees=[30, 30])" (default: none)',
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random augmentations (default 0)"
    )
    parser.add_argument(
        "--mix", metavar="IMAGE", help="second image for MixUp/CutMix (default: none)"
    )


def load_engine(args: argparse.Namespace) -> Engine:
    """The engine for --arch/--weights/--device, or CliError with the reason."""
    from cnnviz.core.device import DeviceError
    from cnnviz.core.engine import Engine
    from cnnviz.core.zoo.registry import UnknownArchError
    from cnnviz.core.zoo.weights import WeightsError

    try:
        engine = Engine.load(
            args.arch, weights_file=args.weights, device=args.device, allow_download=args.download
        )
    except (UnknownArchError, WeightsError, DeviceError) as exc:
        raise CliError(str(exc)) from exc
    if engine.weights.untrained:
        print(
            f"cnnviz: warning: {args.arch} has no trained weights here; running UNTRAINED "
            "(random) weights, so its predictions mean nothing",
            file=sys.stderr,
        )
    return engine
