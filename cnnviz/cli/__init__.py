"""Command line: `cnnviz` opens the window; subcommands script the core without Qt."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from cnnviz.cli.common import (
    EXIT_BAD_INPUT,
    CliError,
    add_augment_arguments,
    add_model_arguments,
    load_engine,
)
from cnnviz.defaults import BENCH_ARCHS


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = getattr(args, "run", None) or _run_gui
    from cnnviz.core.errors import UserError

    try:
        return command(args)
    except (CliError, UserError) as exc:
        print(f"cnnviz: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnviz", description="Look inside convolutional networks."
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the window (the default with no command)")
    add_gui_arguments(gui)
    gui.set_defaults(run=_run_gui)

    models = sub.add_parser("models", help="list architectures and where their weights come from")
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")
    models.set_defaults(run=_run_models)

    predict = sub.add_parser("predict", help="classify images and print the top-k")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    add_model_arguments(predict)
    predict.add_argument("--topk", type=int, default=5, metavar="K")
    predict.add_argument("--json", action="store_true", help="one JSON object per image")
    add_augment_arguments(predict)
    predict.set_defaults(run=_run_predict)
    from cnnviz.cli.layers import add_layer_commands

    add_layer_commands(sub)
    from cnnviz.cli.explain import add_explain_command

    add_explain_command(sub)

    bench = sub.add_parser("bench", help="time forward passes, lab updates and montages")
    bench.add_argument(
        "--archs",
        default=",".join(BENCH_ARCHS),
        metavar="A,B",
        help="architectures for the forward timings",
    )
    bench.add_argument("--device", metavar="D", help="cpu, cuda or mps (default: best)")
    bench.add_argument("--repeat", type=int, default=20, metavar="N")
    bench.add_argument("--sections", default="forward,lab,layer,montage", metavar="S,T")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(run=_run_bench)
    return parser


def _run_bench(args: argparse.Namespace) -> int:
    import torch

    from cnnviz.cli.bench import format_table, run_bench

    rows = run_bench(
        tuple(a for a in args.archs.split(",") if a),
        device=args.device,
        repeat=args.repeat,
        sections=tuple(args.sections.split(",")),
    )
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        print(format_table(rows))
    return 0


def add_gui_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", metavar="NAME")
    parser.add_argument("--image", metavar="FILE")
    parser.add_argument("--weights", metavar="FILE")
    parser.add_argument("--device", metavar="D")
    parser.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="wait for the result, save the window as PNG and exit",
    )
    parser.add_argument("--presentation", action="store_true", help="start in presentation mode")
    parser.add_argument("--layer", metavar="LAYER", help="select this layer in the explorer")
    add_augment_arguments(parser)


def _run_gui(args: argparse.Namespace) -> int:
    from cnnviz.app import run_app

    return run_app(args)


def _run_models(args: argparse.Namespace) -> int:
    from cnnviz.core.zoo.catalog import catalog

    rows = catalog()
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return 0
    print(f"{'name':<20} {'family':<13} {'year':>4} {'params':>8}  {'input':>5}  weights")
    for r in rows:
        print(
            f"{r.name:<20} {r.family:<13} {r.year:>4} {r.params / 1e6:>7.1f}M"
            f"  {r.input_size:>5}  {r.weights}"
        )
    return 0


def _run_predict(args: argparse.Namespace) -> int:
    from cnnviz.core.images import ImageLoadError, load_image

    if args.topk < 1:
        raise CliError("--topk must be at least 1")
    augment = _parse_augment(args)
    mix = None
    if args.mix is not None:
        try:
            mix = load_image(args.mix)
        except ImageLoadError as exc:
            raise CliError(f"--mix: {exc}") from exc
    engine = load_engine(args)
    status = 0
    for path in args.images:
        try:
            image = load_image(path)
        except ImageLoadError as exc:
            print(f"cnnviz: error: {exc}", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        try:
            lab = _augmented(engine, image, augment, args.seed, mix, args.topk)
        except ValueError as exc:  # SpecError: e.g. a crop larger than this image
            print(f"cnnviz: error: {path}: {exc}", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        prediction = lab.prediction if lab is not None else engine.predict(image, topk=args.topk)
        if prediction.notice:
            print(f"cnnviz: {prediction.notice}", file=sys.stderr)
        if args.json:
            record = {
                "image": path,
                "arch": engine.spec.name,
                "weights": engine.weights.as_dict(),
                "device": prediction.device,
                "predictions": [c.as_dict() for c in prediction.top],
            }
            if lab is not None:
                record["augment"] = lab.as_dict()
            print(json.dumps(record))
        else:
            _print_prediction(path, engine, prediction, lab)
    return status


def _parse_augment(args: argparse.Namespace):
    if not args.augment:
        if args.mix:
            raise CliError("--mix needs --augment with MixUp or CutMix")
        return None
    from cnnviz.core.augment.pipeline import SpecError, parse_spec

    try:
        return parse_spec(args.augment)
    except SpecError as exc:
        raise CliError(f"--augment: {exc}") from exc


def _augmented(engine, image, spec, seed: int, mix, topk: int):
    if spec is None:
        return None
    from cnnviz.core.augment.lab import run_lab

    return run_lab(engine, image, spec, seed=seed, mix_with=mix, topk=topk)


def _print_prediction(path: str, engine, prediction, lab) -> None:
    print(
        f"{path}  ({engine.spec.display_name}, {engine.weights.source.value} weights, "
        f"{prediction.device}, {prediction.forward_ms:.0f} ms)"
    )
    if lab is not None:
        print(f"  augmented with: {lab.spec_text}  (seed {lab.seed})")
        print(f"  {lab.summary_text()}")
        for row in lab.rows:
            print(f"  {row.rank}. {row.label:<30} {row.probability:7.2%}   {row.change_text()}")
        return
    for c in prediction.top:
        print(f"  {c.rank}. {c.label:<30} {c.probability:7.2%}")
