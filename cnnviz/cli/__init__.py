"""Command line: `cnnviz` opens the window; subcommands script the core without Qt."""

from __future__ import annotations

import argparse
import difflib
import json
import math
import sys
from collections.abc import Sequence

from cnnviz.cli.common import (
    EXIT_BAD_INPUT,
    CliError,
    add_augment_arguments,
    add_model_arguments,
    load_engine,
)
from cnnviz.defaults import BENCH_ARCHS, BENCH_SECTIONS


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
    from cnnviz import __version__

    parser.add_argument("--version", action="version", version=f"cnnviz {__version__}")
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
    from cnnviz.cli.compare import add_compare_command
    from cnnviz.cli.evaluate import add_eval_command
    from cnnviz.cli.explain import add_explain_command

    add_compare_command(sub)
    add_eval_command(sub)
    add_explain_command(sub)
    from cnnviz.cli.finetune import add_finetune_command

    add_finetune_command(sub)

    bench = sub.add_parser(
        "bench",
        help="time the live update, forwards, layer views and montages against a bare forward",
    )
    bench.add_argument(
        "--archs",
        default=",".join(BENCH_ARCHS),
        metavar="A,B",
        help="architectures for the forward section (default: %(default)s)",
    )
    bench.add_argument(
        "--device", metavar="D", help="cpu, cuda or mps (default: the best available)"
    )
    bench.add_argument(
        "--repeat",
        type=int,
        default=15,
        metavar="N",
        help="rounds per figure (default: %(default)s)",
    )
    bench.add_argument(
        "--sections",
        default=",".join(BENCH_SECTIONS),
        metavar="S,T",
        help="sections to run besides live (default: %(default)s)",
    )
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(run=_run_bench)
    return parser


def _check_bench_args(args: argparse.Namespace) -> None:
    """CliError for bench arguments run_bench would trip over: archs, device, repeat."""
    from cnnviz.core.device import DeviceError, resolve_device
    from cnnviz.core.zoo.registry import UnknownArchError, all_archs, get_arch

    if args.repeat < 1:
        raise CliError(f"--repeat must be at least 1, not {args.repeat}")
    unknown = [s for s in args.sections.split(",") if s and s not in BENCH_SECTIONS]
    if unknown:
        raise CliError(
            f"--sections: unknown {unknown[0]!r} (choose from {', '.join(BENCH_SECTIONS)})"
        )
    for arch in (a for a in args.archs.split(",") if a):
        try:
            get_arch(arch)
        except UnknownArchError as exc:
            close = difflib.get_close_matches(arch, all_archs(), n=3, cutoff=0.6)
            hint = f"close: {', '.join(close)}; " if close else ""
            raise CliError(
                f"--archs: unknown architecture {arch!r} ({hint}see `cnnviz models`)"
            ) from exc
    try:
        resolve_device(args.device)
    except DeviceError as exc:
        raise CliError(f"--device: {exc}") from exc


def _run_bench(args: argparse.Namespace) -> int:
    from cnnviz.cli.bench import format_report, run_bench

    _check_bench_args(args)
    report = run_bench(
        tuple(a for a in args.archs.split(",") if a),
        device=args.device,
        repeat=args.repeat,
        sections=tuple(s for s in args.sections.split(",") if s),
    )
    print(json.dumps(report.as_dict(), indent=2) if args.json else format_report(report))
    return 0


# The window's workspaces, in the order of its workspace bar.
WORKSPACES = ("Classify", "Layers", "Augment", "Explain", "Compare", "Evaluate", "Teach")


def add_gui_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--arch", metavar="NAME", help="architecture (default: the last one used, else Lite0)"
    )
    parser.add_argument(
        "--image", metavar="FILE", help="image to open (default: the last one, else a sample)"
    )
    parser.add_argument(
        "--weights", metavar="FILE", help="a .pth/.pt/.safetensors state dict (default: none)"
    )
    parser.add_argument(
        "--device", metavar="D", help="cpu, cuda or mps (default: the last used, else the best)"
    )
    parser.add_argument(
        "--size",
        metavar="WxH",
        type=_window_size,
        help="window size in pixels, e.g. 1024x768 (default: the last size, else 1440x900)",
    )
    parser.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="wait for the result, save the window as PNG and exit (default: stay open)",
    )
    parser.add_argument(
        "--presentation",
        action="store_true",
        help="start in presentation mode (default: as last time)",
    )
    parser.add_argument(
        "--layer", metavar="LAYER", help="select this layer in the explorer (default: first conv)"
    )
    parser.add_argument(
        "--workspace",
        type=str.capitalize,
        choices=WORKSPACES,
        help="start in this workspace (default: Augment with --augment, Layers with --layer, "
        "else the last one used)",
    )
    add_augment_arguments(parser)


def _window_size(text: str) -> tuple[int, int]:
    """ "1024x768" -> (1024, 768), within what a screen can show."""
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 1024x768")
    size = (int(width), int(height))
    if not all(320 <= n <= 16384 for n in size):
        raise argparse.ArgumentTypeError(f"{text}: each side must be 320 to 16384 pixels")
    return size


def _run_gui(args: argparse.Namespace) -> int:
    _check_gui_args(args)
    from cnnviz.app import run_app

    return run_app(args)


def _check_gui_args(args: argparse.Namespace) -> None:
    """Refuse bad --image/--mix/--weights/--augment before the window starts (no Qt, no model).

    Only what is given is checked, so that a bare `cnnviz` imports nothing heavy here.
    """
    for flag in ("image", "mix"):
        value = getattr(args, flag, None)
        if value is not None:
            from cnnviz.core.images import ImageLoadError, check_image_file

            try:
                check_image_file(value)
            except ImageLoadError as exc:
                raise CliError(f"--{flag}: {exc}") from exc
    weights = getattr(args, "weights", None)
    if weights is not None:
        from cnnviz.core.files import path_problem

        problem = path_problem(weights, "a weights file")
        if problem is not None:
            raise CliError(f"--weights: {weights}: {problem}")
    if getattr(args, "augment", None) or getattr(args, "mix", None):
        _parse_augment(args)


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
        non_finite = prediction.non_finite or (lab is not None and lab.baseline.non_finite)
        if non_finite:
            print(
                f"cnnviz: warning: {path}: the model's outputs are NaN or infinite (do its "
                "weights hold NaN or infinite values?); the probabilities and ranking mean nothing",
                file=sys.stderr,
            )
        if args.json:
            record = {
                "image": path,
                "arch": engine.spec.name,
                "weights": engine.weights.as_dict(),
                "device": prediction.device,
                "non_finite": non_finite,
                "predictions": [c.as_dict() for c in prediction.top],
            }
            if lab is not None:
                record["augment"] = lab.as_dict()
            record["drawn"] = _drawn(augment, image, args.seed, mix)
            # Strict JSON: NaN and infinities (not JSON) become null; "non_finite" says why.
            print(json.dumps(_json_safe(record), allow_nan=False))
        else:
            _print_prediction(path, engine, prediction, lab)
    return status


def _json_safe(value: object) -> object:
    """`value` with every NaN or infinite float replaced by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _parse_augment(args: argparse.Namespace):
    """The --augment spec, checked against --mix: CliError blames the flag that is wrong."""
    if not args.augment:
        if args.mix:
            raise CliError("--mix needs --augment with MixUp or CutMix")
        return None
    from cnnviz.core.augment.catalog import catalog_entry
    from cnnviz.core.augment.spec import SpecError, parse_spec

    try:
        spec = parse_spec(args.augment)
    except SpecError as exc:
        raise CliError(f"--augment: {exc}") from exc
    mixing = [name for name in spec.names if catalog_entry(name).needs_second_image]
    if mixing and not args.mix:
        raise CliError(f"--augment: {mixing[0]} needs a second image; give it with --mix IMAGE")
    if args.mix and not mixing:
        raise CliError("--mix is given, but --augment has no MixUp or CutMix to use it")
    return spec


def _augmented(engine, image, spec, seed: int, mix, topk: int):
    if spec is None:
        return None
    from cnnviz.core.augment.lab import run_lab

    return run_lab(engine, image, spec, seed=seed, mix_with=mix, topk=topk)


def _drawn(spec, image, seed: int, mix) -> list:
    """What the random policies of --augment drew (empty without any)."""
    if spec is None:
        return []
    from cnnviz.core.teach.policy import drawn_in_pipeline, drawn_list

    return drawn_list(drawn_in_pipeline(spec, image, seed=seed, mix_with=mix))


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
