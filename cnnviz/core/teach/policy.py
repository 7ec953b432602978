"""What a random augmentation policy drew: its operations, magnitudes and mixing weights.

AutoAugment, RandAugment, TrivialAugmentWide and AugMix (torchvision v2) draw operations
from torch's RNG and apply each through their ``_apply_image_or_video_transform`` method.
Nothing is re-implemented here: for one seeded call, that method (and AugMix's
``_sample_dirichlet``) is wrapped on the INSTANCE (never the class), every call is recorded,
and the wrapper is removed afterwards. The draws are therefore exactly torchvision's own,
including those that change nothing visible (TrivialAugment's "Identity", a zero rotation).

The magnitude is the number torchvision passes to the operation: degrees for Rotate,
pixels for TranslateX/Y, the shear factor for ShearX/Y (an angle of atan(m)), the factor
minus one for Brightness/Color/Contrast/Sharpness, the bits kept for Posterize and the
threshold as a fraction of the maximum for Solarize; 0 for operations without one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torchvision.transforms import v2

from cnnviz.core.augment.pipeline import AugmentPipeline, ImageInput, build_pipeline
from cnnviz.core.augment.spec import AugmentSpec
from cnnviz.core.rng import seeded_rng

POLICY_NAMES = frozenset({"AutoAugment", "RandAugment", "TrivialAugmentWide", "AugMix"})


@dataclass(frozen=True)
class DrawnOp:
    """One operation a policy applied, in the order it ran."""

    transform: str  # the policy's class name, e.g. "RandAugment"
    operation: str  # torchvision's operation id, e.g. "Rotate", "Identity"
    magnitude: float  # the value torchvision passed to the operation (see module docstring)
    step: int = 0  # index of the policy in the spec
    chain: int | None = None  # AugMix: which augmentation chain (0-based)
    chain_weight: float | None = None  # AugMix: that chain's weight in the final mix

    def describe(self) -> str:
        """The operation in words, e.g. "Rotate −12.0°" or "Identity (no change)"."""
        return describe_operation(self.operation, self.magnitude)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: transform, operation, magnitude (+ chain, chain_weight for AugMix)."""
        out: dict[str, Any] = {
            "transform": self.transform,
            "operation": self.operation,
            "magnitude": self.magnitude,
        }
        if self.chain is not None:
            out["chain"] = self.chain
            out["chain_weight"] = self.chain_weight
        return out


@dataclass(frozen=True)
class PolicyDraw:
    """Everything one policy drew in one call."""

    transform: str
    step: int
    ops: tuple[DrawnOp, ...]
    original_weight: float | None = None  # AugMix: the un-augmented image's weight
    chain_weights: tuple[float, ...] = ()  # AugMix: each chain's weight (sum + original = 1)

    def summary(self) -> str:
        """One line, e.g. "TrivialAugmentWide: Identity (no change)"."""
        if self.transform != "AugMix":
            ops = ", ".join(o.describe() for o in self.ops) or "nothing applied"
            return f"{self.transform}: {ops}"
        parts = [f"original × {self.original_weight:.3f}"]
        for i, w in enumerate(self.chain_weights):
            chain = " → ".join(o.describe() for o in self.ops if o.chain == i)
            parts.append(f"chain {i + 1} × {w:.3f}: {chain}")
        return "AugMix: " + "; ".join(parts)


@dataclass
class _Recorder:
    transform: str
    step: int
    ops: list[tuple[str, float, int | None]] = field(default_factory=list)
    dirichlet: list[torch.Tensor] = field(default_factory=list)
    chain: int = -1

    def draw(self) -> PolicyDraw:
        original: float | None = None
        weights: tuple[float, ...] = ()
        if self.transform == "AugMix" and len(self.dirichlet) == 2:
            beta, mixing = self.dirichlet
            original = float(beta[0, 0])
            weights = tuple(float(w) for w in (mixing * beta[:, 1:2])[0])
        ops = tuple(
            DrawnOp(
                self.transform,
                name,
                magnitude,
                self.step,
                chain,
                None if chain is None or not weights else weights[chain],
            )
            for name, magnitude, chain in self.ops
        )
        return PolicyDraw(self.transform, self.step, ops, original, weights)


@contextmanager
def recording(transform: v2.Transform, step: int = 0) -> Iterator[_Recorder]:
    """Record the operations `transform` (a policy) applies while the block runs.

    The instance's ``_apply_image_or_video_transform`` (and AugMix's ``_sample_dirichlet``)
    are shadowed by recording wrappers and restored on exit; the class is untouched.
    """
    name = type(transform).__name__
    rec = _Recorder(name, step)
    apply = transform._apply_image_or_video_transform
    sample = getattr(transform, "_sample_dirichlet", None)
    chain_input: list[Any] = [None]

    def recorded_apply(image: Any, transform_id: str, magnitude: float, **kwargs: Any) -> Any:
        chain: int | None = None
        if name == "AugMix":
            # Every chain starts again from the same batch object.
            if chain_input[0] is None:
                chain_input[0] = image
            if image is chain_input[0]:
                rec.chain += 1
            chain = rec.chain
        out = apply(image, transform_id, magnitude, **kwargs)
        if name == "AugMix" and out is chain_input[0]:
            out = out.view_as(out)  # same values, new object: keeps chain starts unambiguous
        rec.ops.append((transform_id, float(magnitude), chain))
        return out

    def recorded_sample(params: torch.Tensor) -> torch.Tensor:
        assert sample is not None
        out = sample(params)
        rec.dirichlet.append(out.detach().clone())
        return out

    transform._apply_image_or_video_transform = recorded_apply
    if name == "AugMix":
        transform._sample_dirichlet = recorded_sample
    try:
        yield rec
    finally:
        del transform._apply_image_or_video_transform
        if name == "AugMix":
            del transform._sample_dirichlet


def draw(transform: v2.Transform, image: Any, *, seed: int | None = None) -> tuple[Any, PolicyDraw]:
    """Run `transform` once on `image` (seeding torch's RNG when `seed` is given, restoring
    it afterwards) and return its output with what it drew."""
    with recording(transform) as rec:
        if seed is None:
            out = transform(image)
        else:
            with seeded_rng(seed):
                out = transform(image)
    return out, rec.draw()


def drawn_in_pipeline(
    spec: AugmentSpec,
    image: ImageInput,
    *,
    seed: int,
    mix_with: ImageInput | None = None,
    pipeline: AugmentPipeline | None = None,
) -> tuple[PolicyDraw, ...]:
    """What each random policy of `spec` draws when the lab applies it with `seed`.

    Runs the pipeline exactly as the lab does (same per-transform seeds), recording the
    policies; deterministic transforms draw nothing, so a spec without policies gives ().
    """
    pipeline = pipeline or build_pipeline(spec)
    runners = pipeline._runners  # what actually runs (the lab's objects)
    steps = [i for i, c in enumerate(spec.calls) if c.name in POLICY_NAMES]
    if not steps:
        return ()
    with _recording_all([(runners[i], i) for i in steps]) as recorders:
        pipeline.apply(image, seed=seed, mix_with=mix_with)
    return tuple(r.draw() for r in recorders)


@contextmanager
def _recording_all(items: list[tuple[v2.Transform, int]]) -> Iterator[list[_Recorder]]:
    if not items:
        yield []
        return
    (first, step), rest = items[0], items[1:]
    with recording(first, step) as rec, _recording_all(rest) as others:
        yield [rec, *others]


def drawn_list(draws: tuple[PolicyDraw, ...]) -> list[dict[str, Any]]:
    """The `drawn` list of ``predict --json``: one object per applied operation."""
    return [op.as_dict() for d in draws for op in d.ops]


def describe_operation(operation: str, magnitude: float) -> str:
    """An operation and its magnitude in words."""
    m = magnitude
    if operation == "Identity":
        return "Identity (no change)"
    if operation == "Rotate":
        return f"Rotate {m:+.1f}°"
    if operation in ("TranslateX", "TranslateY"):
        return f"{operation} {int(m):+d} px"
    if operation in ("ShearX", "ShearY"):
        return f"{operation} {m:+.3f} ({math.degrees(math.atan(m)):+.1f}°)"
    if operation in ("Brightness", "Color", "Contrast", "Sharpness"):
        return f"{operation} × {1.0 + m:.2f}"
    if operation == "Posterize":
        return f"Posterize to {int(m)} bits"
    if operation == "Solarize":
        return f"Solarize above {m:.0%} of max"
    return operation


CROP_NAMES = frozenset({"RandomResizedCrop", "RandomCrop"})


@dataclass(frozen=True)
class CropBox:
    """Where a random crop of the lab cut its input (pixels of that input, before padding)."""

    transform: str
    step: int  # index in the spec
    top: int
    left: int
    height: int
    width: int
    input_size: tuple[int, int]  # (height, width) of the image the crop was cut from
    on_original: bool  # the crop's input is the original image (nothing ran before it)

    def describe(self) -> str:
        """E.g. "RandomResizedCrop: 200×150 at x=12, y=40 of the 451×300 original"."""
        h, w = self.input_size
        what = "original" if self.on_original else f"input of step {self.step + 1}"
        return (
            f"{self.transform}: {self.width}×{self.height} at x={self.left}, y={self.top} "
            f"of the {w}×{h} {what}"
        )


def crop_boxes_in_pipeline(
    spec: AugmentSpec,
    image: ImageInput,
    *,
    seed: int,
    mix_with: ImageInput | None = None,
) -> tuple[CropBox, ...]:
    """The boxes the lab's RandomResizedCrop/RandomCrop cut for `seed` (torchvision's own
    ``make_params``, recorded on the instances during one run of the pipeline)."""
    steps = [i for i, c in enumerate(spec.calls) if c.name in CROP_NAMES]
    if not steps:
        return ()
    pipeline = build_pipeline(spec)
    seen: list[tuple[int, dict[str, Any], tuple[int, int]]] = []
    runners = pipeline._runners
    for i in steps:
        t = runners[i]
        make = t.make_params

        def recorded(flat_inputs: list[Any], i: int = i, make: Any = make) -> dict[str, Any]:
            params = make(flat_inputs)
            size = tuple(int(v) for v in flat_inputs[0].shape[-2:])
            seen.append((i, dict(params), size))  # type: ignore[arg-type]
            return params

        t.make_params = recorded
    try:
        pipeline.apply(image, seed=seed, mix_with=mix_with)
    finally:
        for i in steps:
            del runners[i].make_params
    boxes = []
    for i, params, size in seen:
        pad_left, pad_top = (params.get("padding") or [0, 0, 0, 0])[:2]
        boxes.append(
            CropBox(
                spec.calls[i].name,
                i,
                int(params["top"]) - int(pad_top),
                int(params["left"]) - int(pad_left),
                int(params["height"]),
                int(params["width"]),
                (size[0], size[1]),
                i == 0,
            )
        )
    return tuple(boxes)
