"""`cnnviz compare`: several architectures on the same (augmented) image, side by side."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cnnviz.cli.common import CliError

MAX_ARCHS = 4


def add_compare_command(subparsers: Any) -> None:
    """Add the `compare` subcommand to cnnviz's subparsers."""
    parser = subparsers.add_parser(
        "compare", help="run 2-4 architectures on one image: top-5, cost, depth, agreement"
    )
    parser.add_argument("image", metavar="IMAGE", help="the image every model classifies")
    parser.add_argument(
        "--archs",
        required=True,
        metavar="A,B[,C,D]",
        help="2 to 4 comma-separated architectures (required; see `cnnviz models`)",
    )
    parser.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="ARCH=FILE",
        help="a state dict for one architecture; repeat for several (default: each "
        "architecture's own offline/cached weights, else untrained)",
    )
    parser.add_argument("--device", metavar="D", help="cpu, cuda or mps (default: best available)")
    parser.add_argument(
        "--download",
        action="store_true",
        help="download torchvision weights that are not cached (default: off)",
    )
    parser.add_argument(
        "--topk", type=int, default=5, metavar="K", help="classes listed per model (default 5)"
    )
    parser.add_argument(
        "--true-label",
        metavar="CLASS",
        help="the image's true class (name or WordNet id): its rank in each model (default: none)",
    )
    parser.add_argument(
        "--augment",
        metavar="SPEC",
        help="torchvision v2 augmentations applied once, fed to every model (default: none)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random augmentations (default 0)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object (default: a text report)"
    )
    parser.set_defaults(run=run_compare)


def _archs(text: str) -> list[str]:
    from cnnviz.core.zoo.registry import get_arch

    names = [a.strip() for a in text.split(",") if a.strip()]
    if not 2 <= len(names) <= MAX_ARCHS:
        raise CliError(f"--archs: give 2 to {MAX_ARCHS} architectures, got {len(names)}")
    if len(set(names)) != len(names):
        raise CliError("--archs: an architecture is named twice")
    for name in names:
        get_arch(name)  # UnknownArchError (a UserError) lists the valid names
    return names


def _weights(pairs: list[str], archs: list[str]) -> dict[str, str]:
    files: dict[str, str] = {}
    for pair in pairs:
        arch, sep, file = pair.partition("=")
        if not sep or not arch or not file:
            raise CliError(f"--weights: expected ARCH=FILE, got {pair!r}")
        if arch not in archs:
            raise CliError(f"--weights: {arch!r} is not one of --archs ({', '.join(archs)})")
        files[arch] = file
    return files


def run_compare(args: argparse.Namespace) -> int:
    from cnnviz.core.compare import compare
    from cnnviz.core.images import load_image

    archs = _archs(args.archs)
    files = _weights(args.weights, archs)
    if args.topk < 1:
        raise CliError("--topk must be at least 1")
    image = load_image(args.image)
    result = compare(
        archs,
        image,
        augment=args.augment or None,
        seed=args.seed,
        topk=args.topk,
        weights=files,
        device=args.device,
        allow_download=args.download,
        true_label=args.true_label,
    )
    for run in result.runs:
        if run.weights.untrained:
            print(
                f"cnnviz: warning: {run.name} has no trained weights here; running UNTRAINED "
                "(random) weights, so its predictions mean nothing",
                file=sys.stderr,
            )
        if run.notice:
            print(f"cnnviz: {run.name}: {run.notice}", file=sys.stderr)
    if args.json:
        print(json.dumps({"image": args.image, **result.as_dict()}))
    else:
        print(format_comparison(args.image, result))
    return 0


def _accuracy(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def format_comparison(image: str, result: Any) -> str:
    """The text report: one block per model, then where they agree."""
    lines = [image]
    if result.spec_text:
        lines.append(f"augmented once with: {result.spec_text}  (seed {result.seed})")
    for run in result.runs:
        f = run.facts
        lines.append("")
        lines.append(
            f"{f.display_name} ({f.year}; {run.weights.source.value} weights"
            f"{', UNTRAINED' if run.weights.untrained else ''}; {run.device}, "
            f"{run.forward_ms:.1f} ms forward)"
        )
        lines.append(
            f"  {f.params / 1e6:.2f}M params, {f.macs / 1e9:.3f} GMACs, depth {f.depth} "
            f"(conv+linear), published ImageNet top-1 {_accuracy(f.top1_accuracy)}, "
            f"top-5 {_accuracy(f.top5_accuracy)}"
        )
        for c in run.top:
            lines.append(f"  {c.rank}. {c.label:<30} {c.probability:7.2%}")
        if run.truth is not None:
            t = run.truth
            lines.append(
                f"  true class {t.label}: rank {t.rank}, {t.probability:.2%}; "
                f"top-1 {'hit' if t.top1_hit else 'miss'}, top-5 {'hit' if t.top5_hit else 'miss'}"
            )
    lines.append("")
    shared = ", ".join(result.shared_labels) or "none"
    lines.append(f"classes in every top-{len(result.runs[0].top)}: {shared}")
    verdict = "differ" if result.top1_differs else "agree"
    lines.append(f"top-1 {verdict}: " + " | ".join(result.top1_labels))
    return "\n".join(lines)
