"""`cnnviz eval`: top-1 and top-5 error of one model over a folder of labelled images."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cnnviz.cli.common import CliError, add_model_arguments

SHOWN = 5  # skipped entries and confused pairs listed in the text report


def add_eval_command(subparsers: Any) -> None:
    """Add the `eval` subcommand to cnnviz's subparsers."""
    parser = subparsers.add_parser(
        "eval", help="top-1/top-5 error over a folder of class folders (or a path,label CSV)"
    )
    parser.add_argument(
        "source",
        metavar="DIR",
        help="a folder with one sub-folder per class (class name or WordNet id), "
        "or a CSV file of path,label rows",
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--augment",
        metavar="SPEC",
        help="torchvision v2 augmentations applied to every image (default: none)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the augmentations; each image gets its own seed from it (default 0)",
    )
    parser.add_argument(
        "--batch", type=int, default=32, metavar="N", help="images per forward pass (default 32)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="decoding worker processes, 0 to decode in this process (default: min(2, CPUs))",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object (default: a text report)"
    )
    parser.set_defaults(run=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from cnnviz.cli.common import load_engine
    from cnnviz.core.evaluate import evaluate, scan

    if args.batch < 1:
        raise CliError("--batch must be at least 1")
    if args.workers is not None and args.workers < 0:
        raise CliError("--workers must be 0 or more")
    engine = load_engine(args)
    labelled = scan(args.source, engine.spec.categories)
    result = evaluate(
        engine,
        labelled,
        augment=args.augment or None,
        seed=args.seed,
        batch_size=args.batch,
        workers=args.workers,
        progress=_progress if sys.stderr.isatty() else None,
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if result.images == 0:
        raise CliError(f"{args.source}: no images to evaluate ({_skipped_text(result.skipped)})")
    if args.json:
        print(json.dumps(result.as_dict()))
    else:
        print(format_evaluation(result))
    return 0


def _progress(done: int, total: int) -> None:
    print(f"\r{done}/{total} images", end="", file=sys.stderr, flush=True)


def _skipped_text(skipped: Any) -> str:
    if not skipped:
        return "nothing skipped"
    first = "; ".join(f"{s.path}: {s.reason}" for s in skipped[:SHOWN])
    more = f"; and {len(skipped) - SHOWN} more" if len(skipped) > SHOWN else ""
    return f"{len(skipped)} skipped: {first}{more}"


def format_evaluation(result: Any) -> str:
    """The text report: totals, the per-class table, confusions and what was skipped."""
    lines = [
        f"{result.arch} on {result.source}: {result.images} images, "
        f"top-1 error {result.top1_error:.1%}, top-5 error {result.top5_error:.1%} "
        f"({result.images_per_s:.1f} images/s)"
    ]
    if result.spec_text:
        lines.append(f"augmented with: {result.spec_text}  (seed {result.seed}, one per image)")
    lines.append(f"  {'class':<30} {'images':>6} {'top-1 err':>9} {'top-5 err':>9}")
    for c in result.per_class:
        lines.append(f"  {c.label:<30} {c.images:>6} {c.top1_error:>9.1%} {c.top5_error:>9.1%}")
    if result.most_confused:
        lines.append("most confused (true -> predicted):")
        for p in result.most_confused[:SHOWN]:
            lines.append(f"  {p.true_label} -> {p.predicted}: {p.count}")
    lines.append(_skipped_text(result.skipped))
    return "\n".join(lines)
