"""Augmentation spec text ⇄ validated transform calls, in torchvision's own terms.

A spec is a ``;``- (or newline-) separated list of keyword-only calls such as
``RandomHorizontalFlip(p=1.0); RandomRotation(degrees=[30, 30])``. Text is read with
``ast`` and ``ast.literal_eval`` only: nothing the user types is ever executed. Enum
parameters are written as strings (``interpolation='bilinear'``, ``policy='cifar10'``);
``InterpolationMode.BILINEAR``-style attribute names and a ``v2.`` prefix on transform
names are accepted too, so lines copied from :func:`to_python` parse back.
"""

from __future__ import annotations

import ast
import enum
import io
import math
import re
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from cnnviz.core.augment.catalog import (
    REQUIRED,
    ParamInfo,
    TransformInfo,
    catalog_entry,
    catalog_names,
    torchvision_defaults,
)
from cnnviz.core.errors import UserError
from cnnviz.core.files import clip
from cnnviz.core.requests import ImageSource

MAX_SPEC_CHARS = 10_000
MAX_NUMBER_CHARS = 50
# torchvision's enum parameters: class name and the string values a spec writes.
_ENUMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "interpolation": (
        "InterpolationMode",
        ("nearest", "nearest-exact", "bilinear", "bicubic", "box", "hamming", "lanczos"),
    ),
    "policy": ("AutoAugmentPolicy", ("imagenet", "cifar10", "svhn")),
}


def _member_name(value: str) -> str:
    """The enum member torchvision names a value by: "nearest-exact" -> NEAREST_EXACT."""
    return value.upper().replace("-", "_")


# "range" parameters that are (x, y) pairs, not [lo, hi] intervals.
_POINT_PAIRS = frozenset({"translate", "center"})
_MODULE_PREFIXES = ("v2", "transforms.v2", "torchvision.transforms.v2")


class SpecError(UserError, ValueError):
    """The spec text or a transform call is not valid; the message names the bad part."""


@dataclass(frozen=True)
class TransformCall:
    """One transform: its torchvision class name and normalised keyword arguments."""

    name: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        """The value given for `key`, or `default` when it was not given."""
        return dict(self.kwargs).get(key, default)


@dataclass(frozen=True)
class AugmentSpec:
    """An ordered list of transform calls; empty means identity."""

    calls: tuple[TransformCall, ...] = ()

    def __len__(self) -> int:
        return len(self.calls)

    @property
    def names(self) -> tuple[str, ...]:
        """The transform names in order."""
        return tuple(c.name for c in self.calls)

    def replace_call(self, index: int, call: TransformCall) -> AugmentSpec:
        """A copy with the call at `index` replaced."""
        calls = list(self.calls)
        calls[index] = call
        return replace(self, calls=tuple(calls))


def _enum_value(value: Any) -> Any:
    # torchvision's enums (InterpolationMode, AutoAugmentPolicy) as their string values.
    return value.value if isinstance(value, enum.Enum) else value


def _is_number(v: Any) -> bool:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int too large for a float
        return False


def _bounded(info: TransformInfo, p: ParamInfo, v: float, what: str) -> None:
    if (p.min is not None and v < p.min) or (p.max is not None and v > p.max):
        raise SpecError(f"{info.name}: {p.name} {what} {v!r} is outside [{p.min}, {p.max}]")


def _normalise(info: TransformInfo, p: ParamInfo, value: Any) -> Any:
    """Check one value against its ParamInfo; return it in canonical (hashable) form."""
    bad = f"{info.name}: {p.name} must be"
    value = _enum_value(value)
    if value is None:
        if p.optional:
            return None
        raise SpecError(f"{bad} given (None is not allowed)")
    if p.kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(f"{bad} True or False, got {value!r}")
        return value
    if p.kind == "choice":
        if value not in p.choices or isinstance(value, bool):
            raise SpecError(f"{bad} one of {', '.join(map(repr, p.choices))}; got {value!r}")
        return value
    if p.kind in ("float", "int"):
        ok = isinstance(value, int) if p.kind == "int" else _is_number(value)
        if not ok or isinstance(value, bool):
            raise SpecError(
                f"{bad} {'an integer' if p.kind == 'int' else 'a number'}, got {value!r}"
            )
        value = int(value) if p.kind == "int" else float(value)
        _bounded(info, p, value, "value")
        return value
    if p.kind == "range":
        if p.scalar_ok and _is_number(value):
            _bounded(info, p, float(value), "value")
            return float(value)
        if not (
            isinstance(value, (list, tuple))
            and len(value) == 2
            and all(_is_number(v) for v in value)
        ):
            form = "a number or [lo, hi]" if p.scalar_ok else "a pair [a, b]"
            raise SpecError(f"{bad} {form}, got {value!r}")
        for v in value:
            _bounded(info, p, float(v), "value")
        if p.name not in _POINT_PAIRS and value[0] > value[1]:
            raise SpecError(f"{bad} [lo, hi] with lo <= hi, got {list(value)!r}")
        return (float(value[0]), float(value[1]))
    if p.kind == "size":
        if isinstance(value, int) and not isinstance(value, bool):
            _bounded(info, p, value, "value")
            return value
        if not (
            isinstance(value, (list, tuple))
            and len(value) in (1, 2)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            raise SpecError(f"{bad} an integer or [height, width], got {value!r}")
        for v in value:
            _bounded(info, p, v, "value")
        return tuple(value)
    raise AssertionError(f"unknown parameter kind {p.kind!r}")  # a catalogue bug


def _check_together(call: TransformCall) -> None:
    """Constraints between parameters that torchvision only reports while augmenting."""
    if call.name == "RandAugment":
        bins = call.get("num_magnitude_bins", torchvision_defaults(call.name)["num_magnitude_bins"])
        magnitude = call.get("magnitude", torchvision_defaults(call.name)["magnitude"])
        if magnitude >= bins:
            raise SpecError(
                f"RandAugment: magnitude ({magnitude}) must be below num_magnitude_bins ({bins})"
            )


def make_call(name: str, kwargs: Mapping[str, Any] | None = None) -> TransformCall:
    """A validated TransformCall; keyword order becomes torchvision's signature order."""
    if name not in catalog_names():
        raise SpecError(f"unknown transform {name!r}")
    info = catalog_entry(name)
    kwargs = dict(kwargs or {})
    for key in kwargs:
        if key not in info.param_names:
            raise SpecError(
                f"{name}: unknown parameter {key!r} (valid: {', '.join(info.param_names)})"
            )
    missing = [
        k
        for k, d in torchvision_defaults(name).items()
        if d is REQUIRED and k in info.param_names and k not in kwargs
    ]
    if missing:
        raise SpecError(f"{name}: missing required parameter {missing[0]!r}")
    ordered = tuple(
        (p.name, _normalise(info, p, kwargs[p.name])) for p in info.params if p.name in kwargs
    )
    call = TransformCall(name, ordered)
    _check_together(call)
    return call


def default_call(name: str) -> TransformCall:
    """The lab's freshly toggled call: the lab defaults that differ from torchvision's."""
    info = catalog_entry(name)
    tv = torchvision_defaults(name)
    kwargs = {}
    for p in info.params:
        try:
            same = tv[p.name] is not REQUIRED and _normalise(info, p, tv[p.name]) == p.default
        except SpecError:
            same = False
        if not same:
            kwargs[p.name] = p.default
    return make_call(name, kwargs)


def _format_value(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    return repr(value)


def format_call(call: TransformCall) -> str:
    """Canonical text of one call, e.g. ``RandomRotation(degrees=[30.0, 30.0])``."""
    args = ", ".join(f"{k}={_format_value(v)}" for k, v in call.kwargs)
    return f"{call.name}({args})"


def format_spec(spec: AugmentSpec) -> str:
    """Canonical spec text; ``parse_spec(format_spec(s)) == s``."""
    return "; ".join(format_call(c) for c in spec.calls)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _literal(node: ast.expr, name: str, key: str) -> Any:
    dotted = _dotted(node)
    if dotted is not None and "." in dotted:
        enum_name, _, member = dotted.rpartition(".")
        enum = _ENUMS.get(key)
        if enum is not None and enum_name.rpartition(".")[2] == enum[0]:
            by_member = {_member_name(v): v for v in enum[1]}
            if member in by_member:
                return by_member[member]
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise SpecError(
            f"{name}: {key} must be a literal (number, string, list, True, False "
            f"or None), got {ast.unparse(node)!r}"
        ) from None


def _long_number(part: str) -> str | None:
    """The first number literal in `part` longer than MAX_NUMBER_CHARS, if any."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(part).readline):
            if token.type == tokenize.NUMBER and len(token.string) > MAX_NUMBER_CHARS:
                return token.string
    except (tokenize.TokenError, SyntaxError):
        return None  # ast.parse below reports the syntax error
    return None


def _parse_part(part: str, number: int) -> TransformCall:
    where = f'part {number}: "{clip(part, 80)}"'
    # Python refuses to parse integers of more than 4300 digits, calling it a syntax error.
    if (long := _long_number(part)) is not None:
        raise SpecError(
            f"a number of {len(long)} characters is too long (at most {MAX_NUMBER_CHARS}) "
            f"in {where}"
        )
    try:
        node = ast.parse(part, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise SpecError(f"syntax error in {where}") from None
    if not isinstance(node, ast.Call):
        raise SpecError(f"not a transform call like Name(key=value) in {where}")
    dotted = _dotted(node.func)
    if dotted is None:
        raise SpecError(f"a transform must be called by its name in {where}")
    module, _, name = dotted.rpartition(".")
    if (module and module not in _MODULE_PREFIXES) or name not in catalog_names():
        raise SpecError(f"unknown transform {dotted!r} in {where}")
    info = catalog_entry(name)
    if node.args:
        raise SpecError(
            f"{name}: positional argument {ast.unparse(node.args[0])!r} in {where}; "
            f"write keywords, e.g. {info.param_names[0]}=..."
        )
    kwargs = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise SpecError(f"{name}: '**{ast.unparse(kw.value)}' is not allowed in {where}")
        if kw.arg not in info.param_names:
            raise SpecError(
                f"{name}: unknown parameter {kw.arg!r} (valid: {', '.join(info.param_names)})"
            )
        kwargs[kw.arg] = _literal(kw.value, name, kw.arg)
    return make_call(name, kwargs)


def parse_spec(text: str) -> AugmentSpec:
    """Parse spec text (never evaluated); raise SpecError naming the bad part."""
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(f"spec is too long ({len(text)} characters, at most {MAX_SPEC_CHARS})")
    # Trailing commas let lines pasted from to_python()'s Compose list parse as well.
    parts = [p.strip().rstrip(",").strip() for p in re.split(r"[;\n]", text)]
    parts = [p for p in parts if p]
    return AugmentSpec(tuple(_parse_part(p, i) for i, p in enumerate(parts, start=1)))


def _python_value(key: str, value: Any) -> str:
    if key in _ENUMS and isinstance(value, str):
        return f"v2.{_ENUMS[key][0]}.{_member_name(value)}"
    return _format_value(value)


def _python_call(call: TransformCall, extra: str = "") -> str:
    args = [f"{k}={_python_value(k, v)}" for k, v in call.kwargs]
    return f"v2.{call.name}({', '.join(args + ([extra] if extra else []))})"


def to_python(spec: AugmentSpec) -> str:
    """Python source for a training script that builds the same transforms."""
    per_image = [c for c in spec.calls if not catalog_entry(c.name).needs_second_image]
    mixing = [c for c in spec.calls if catalog_entry(c.name).needs_second_image]
    lines = ["from torchvision.transforms import v2", ""]
    if per_image:
        lines.append("transform = v2.Compose([")
        lines += [f"    {_python_call(c)}," for c in per_image]
        lines.append("])")
    else:
        lines.append("transform = v2.Identity()")
    lines.append("# then the model's own preprocessing, e.g. weights.transforms()")
    if mixing:
        lines += [
            "",
            "# MixUp/CutMix mix whole batches: call batch_transform(images, labels)",
            "# on each batch from the DataLoader, after the per-image transform.",
            "NUM_CLASSES = 1000  # set to your dataset's number of classes",
        ]
        calls = [_python_call(c, "num_classes=NUM_CLASSES") for c in mixing]
        if len(calls) == 1:
            lines.append(f"batch_transform = {calls[0]}")
        else:
            lines.append("batch_transform = v2.Compose([")
            lines += [f"    {c}," for c in calls]
            lines.append("])")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class AugmentSettings:
    """The lab's pipeline as the parsed spec, its seed, and the second image to mix."""

    spec: AugmentSpec
    seed: int = 0
    mix_image: ImageSource | None = None
