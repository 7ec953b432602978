"""`cnnviz explain`: an attribution map for one image, as an overlay PNG, raw .npy or JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cnnviz.cli.common import CliError, add_augment_arguments, add_model_arguments, load_engine

METHOD_NAMES = ("gradcam", "gradcam++", "saliency", "smoothgrad", "ig", "occlusion")
OVERLAY_COLORMAPS = ("inferno", "magma", "viridis", "grey")


class _Defaults:
    """ExplainOptions' defaults, repeated so that building the parser imports no torch
    (tests/cli/test_cli_explain.py checks that they agree)."""

    samples = 16
    noise = 0.15
    steps = 32
    baseline = "black"
    patch = 32
    stride = 16
    fill = "mean"
    batch_size = 8


def add_explain_command(subparsers: Any) -> None:
    """Add the `explain` subcommand to cnnviz's subparsers."""
    D = _Defaults
    p = subparsers.add_parser(
        "explain", help="where the model looks: Grad-CAM, gradients, IG or occlusion for one image"
    )
    p.add_argument("image", metavar="IMAGE", help="the photo to explain")
    add_model_arguments(p)
    p.add_argument(
        "--method",
        default="gradcam",
        metavar="M",
        help=f"one of {', '.join(METHOD_NAMES)} (default gradcam)",
    )
    p.add_argument(
        "--layer",
        metavar="L",
        help="module for gradcam/gradcam++ (default: the model's last conv block)",
    )
    p.add_argument(
        "--class",
        dest="target",
        metavar="INDEX|NAME",
        help="class to explain: an index or (part of) a name (default: the top-1 class)",
    )
    add_augment_arguments(p)
    p.add_argument(
        "--out", metavar="overlay.png", help="write the map as an overlay PNG (default: none)"
    )
    p.add_argument(
        "--on",
        choices=("input", "original"),
        default="input",
        help="draw --out on the model input or on the original photo (default input)",
    )
    p.add_argument(
        "--colormap",
        choices=OVERLAY_COLORMAPS,
        default="inferno",
        help="colormap of --out (default inferno)",
    )
    p.add_argument(
        "--opacity", type=float, default=0.5, help="opacity of the map in --out (default 0.5)"
    )
    p.add_argument(
        "--npy",
        metavar="map.npy",
        help="write the raw float32 map: layer resolution for CAMs, model-input otherwise "
        "(default: none)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (default: text)")
    p.add_argument("--steps", type=int, default=D.steps, help=f"ig: path steps (default {D.steps})")
    p.add_argument(
        "--baseline",
        choices=("black", "blurred"),
        default=D.baseline,
        help=f"ig: baseline image (default {D.baseline})",
    )
    p.add_argument(
        "--samples", type=int, default=D.samples, help=f"smoothgrad: samples (default {D.samples})"
    )
    p.add_argument(
        "--noise",
        type=float,
        default=D.noise,
        help=f"smoothgrad: noise σ as a fraction of the input range (default {D.noise})",
    )
    p.add_argument(
        "--patch", type=int, default=D.patch, help=f"occlusion: patch side (default {D.patch})"
    )
    p.add_argument(
        "--stride", type=int, default=D.stride, help=f"occlusion: patch step (default {D.stride})"
    )
    p.add_argument(
        "--fill",
        choices=("mean", "black", "blurred"),
        default=D.fill,
        help=f"occlusion: what the patch shows (default {D.fill})",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=D.batch_size,
        help=f"images per forward for smoothgrad, ig, occlusion (default {D.batch_size})",
    )
    p.set_defaults(run=run_explain)


def _options(args: argparse.Namespace):
    from cnnviz.core.explain.methods import ExplainOptions

    return ExplainOptions(
        samples=args.samples,
        noise=args.noise,
        seed=args.seed,
        steps=args.steps,
        baseline=args.baseline,
        patch=args.patch,
        stride=args.stride,
        fill=args.fill,
        batch_size=args.batch,
    ).check()


def _input(args: argparse.Namespace, image):
    """The photo, or the augmented uint8 tensor when --augment is given."""
    if not args.augment:
        if args.mix:
            raise CliError("--mix needs --augment with MixUp or CutMix")
        return image
    from cnnviz.core.augment.pipeline import build_pipeline
    from cnnviz.core.augment.spec import SpecError, parse_spec
    from cnnviz.core.images import ImageLoadError, load_image

    try:
        mix = load_image(args.mix) if args.mix else None
    except ImageLoadError as exc:
        raise CliError(f"--mix: {exc}") from exc
    try:
        pipeline = build_pipeline(parse_spec(args.augment))
        return pipeline.apply(image, seed=args.seed, mix_with=mix).image
    except SpecError as exc:
        raise CliError(f"--augment: {exc}") from exc


def run_explain(args: argparse.Namespace) -> int:
    """Explain one image; exit 2 with one line for a bad image, layer, class or method."""
    import numpy as np

    from cnnviz.core.explain import check_method, explain, map_to_original, render_overlay
    from cnnviz.core.images import load_image

    method = check_method(args.method)
    if args.layer is not None and method not in ("gradcam", "gradcam++"):
        raise CliError(f"--layer applies to gradcam and gradcam++, not {method}")
    if not 0.0 <= args.opacity <= 1.0:
        raise CliError(f"--opacity must be within 0..1, got {args.opacity}")
    options = _options(args)
    image = load_image(args.image)
    source = _input(args, image)
    engine = load_engine(args)
    result = explain(
        engine, source, method, target_class=args.target, layer=args.layer, options=options
    )
    if args.npy:
        np.save(args.npy, result.map.astype(np.float32))
    if args.out:
        if args.on == "original":
            photo = source.permute(1, 2, 0).numpy() if args.augment else np.asarray(image)
            heat = map_to_original(engine.spec, result.upsampled, photo.shape[:2])
        else:
            photo, heat = result.model_input, result.upsampled
        overlay = render_overlay(photo, heat, colormap=args.colormap, opacity=args.opacity)
        from PIL import Image

        Image.fromarray(overlay).save(args.out)
    if args.json:
        print(json.dumps(as_json(args.image, engine, result)))
    else:
        print(_summary(args, result))
    return 0


def as_json(image: str, engine, result) -> dict[str, object]:
    """The --json record: exactly image, arch, method, layer, class, map_shape, weights."""
    return {
        "image": image,
        "arch": engine.spec.name,
        "method": result.method,
        "layer": result.layer,
        "class": {
            "index": result.class_index,
            "label": result.class_label,
            "probability": result.probability,
        },
        "map_shape": list(result.map.shape),
        "weights": {"source": engine.weights.source.value, "sha256": engine.weights.sha256},
    }


def _summary(args: argparse.Namespace, result) -> str:
    where = f" at {result.layer}" if result.layer else ""
    lines = [
        f"{args.image}: {result.method}{where} for class {result.class_index} "
        f"{result.class_label!r} ({result.probability:.1%}); map "
        f"{'×'.join(map(str, result.map.shape))}, {result.elapsed_ms:.0f} ms"
    ]
    if result.completeness_error is not None:
        lines.append(
            f"  completeness: Σ attributions off f(x)-f(baseline) by "
            f"{result.completeness_error:.2%} after {result.ig_evaluations} gradient evaluations"
        )
    if args.out:
        lines.append(f"  overlay -> {args.out}")
    if args.npy:
        lines.append(f"  map {result.map.shape} float32 -> {args.npy}")
    return "\n".join(lines)
