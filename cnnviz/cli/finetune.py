"""`cnnviz finetune`: a new linear head for new classes on a frozen, pre-trained backbone."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cnnviz.cli.common import CliError, add_model_arguments, load_engine


def add_finetune_command(subparsers: Any) -> None:
    """Add the `finetune` subcommand to cnnviz's subparsers."""
    parser = subparsers.add_parser(
        "finetune",
        help="train a new linear head on a folder of class folders (frozen backbone features)",
    )
    parser.add_argument(
        "source", metavar="DIR", help="a folder with one sub-folder of images per new class"
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--epochs", type=int, default=200, metavar="N", help="training epochs (default 200)"
    )
    parser.add_argument(
        "--holdout",
        type=float,
        default=0.25,
        metavar="F",
        help="fraction of each class held out to measure accuracy (default 0.25)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the head")
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="save the head as a .safetensors file (use it later with --weights FILE)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=_run_finetune)


def _run_finetune(args: argparse.Namespace) -> int:
    from cnnviz.core.teach.finetune import finetune

    if args.out is not None and not args.out.endswith(".safetensors"):
        raise CliError("--out must name a .safetensors file")
    if args.weights is not None:
        raise CliError("--weights: fine-tune starts from the architecture's own weights")
    engine = load_engine(args)
    result = finetune(
        engine,
        args.source,
        epochs=args.epochs,
        holdout=args.holdout,
        seed=args.seed,
        out=args.out,
    )
    record = result.as_dict(args.out)
    if args.json:
        print(json.dumps(record))
        return 0
    print(f"classes: {', '.join(record['classes'])}")
    print(
        f"{record['train_images']} training images, {record['heldout_images']} held out, "
        f"{record['epochs']} epochs, final loss {record['final_loss']:.4f}"
    )
    print(f"train accuracy {result.train_accuracy:.1%}")
    if result.heldout_accuracy is not None:
        print(f"held-out accuracy {result.heldout_accuracy:.1%}")
    for line in result.skipped:
        print(f"skipped: {line}")
    if args.out:
        print(
            f"head saved to {args.out}; use it with --arch {engine.spec.name} --weights {args.out}"
        )
    return 0
