"""Sweep one augmentation parameter and record how the model's predictions move.

A scalar sweep value v becomes a parameter value by the parameter's kind:
"float" → v, "int" → round(v), "range" → [v, v] (so the random draw collapses to v).
When the swept transform has a ``p`` and another parameter is swept, ``p`` is set to
1.0 so every step shows the effect. Per transform (see :func:`describe_sweep`):

- RandomRotation degrees=v → [v, v]: rotate by exactly v degrees.
- RandomAffine degrees/scale/shear=v → [v, v]: exactly that angle, zoom, x shear;
  translate=v → [v, v]: shifts of at most v·width and v·height, direction still drawn.
- ColorJitter brightness/contrast/saturation=v → [v, v]: multiply by exactly factor v;
  hue=v → [v, v]: shift hue by exactly v turns.
- RandomResizedCrop scale=v → [v, v]: crop exactly fraction v of the area (where, and
  the aspect ratio, are still drawn); ratio=v → [v, v]: aspect ratio exactly v.
- GaussianBlur sigma=v → [v, v]: blur with exactly sigma v.
- RandomErasing scale=v → [v, v] with p=1: erase exactly fraction v of the area.

Every step uses the same seed, so whatever is still drawn is drawn the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnnviz.core.augment.catalog import catalog_entry
from cnnviz.core.augment.spec import AugmentSpec, SpecError, make_call

_NOTES: dict[tuple[str, str], str] = {
    ("RandomRotation", "degrees"): "rotate by exactly v degrees",
    ("RandomAffine", "degrees"): "rotate by exactly v degrees",
    ("RandomAffine", "translate"): "shift by at most v of the width and height",
    ("RandomAffine", "scale"): "zoom by exactly factor v",
    ("RandomAffine", "shear"): "shear along x by exactly v degrees",
    ("ColorJitter", "brightness"): "multiply brightness by exactly v",
    ("ColorJitter", "contrast"): "multiply contrast by exactly v",
    ("ColorJitter", "saturation"): "multiply saturation by exactly v",
    ("ColorJitter", "hue"): "shift hue by exactly v turns",
    ("RandomResizedCrop", "scale"): "crop exactly fraction v of the area",
    ("RandomResizedCrop", "ratio"): "crop with aspect ratio exactly v",
    ("GaussianBlur", "sigma"): "blur with sigma exactly v",
    ("RandomErasing", "scale"): "erase exactly fraction v of the area",
    ("RandomErasing", "ratio"): "erase a rectangle of aspect ratio exactly v",
}


def _mapped(kind: str, value: float) -> object:
    if kind == "int":
        return int(round(float(value)))
    if kind == "range":
        return (float(value), float(value))
    return float(value)


def describe_sweep(name: str, param: str) -> str:
    """How a swept value v is written into `name`'s parameter `param`, in words."""
    info = catalog_entry(name)
    kind = info.param(param).kind
    written = {"int": "round(v)", "range": "[v, v]"}.get(kind, "v")
    text = f"{param}={written}"
    if "p" in info.param_names and param != "p":
        text += ", p=1.0"
    note = _NOTES.get((name, param))
    return f"{text}: {note}" if note else text


def sweep_specs(
    spec: AugmentSpec, transform_index: int, param: str, values: Sequence[float]
) -> list[AugmentSpec]:
    """Copies of `spec` with one parameter of one transform set from each value."""
    if not 0 <= transform_index < len(spec):
        raise SpecError(f"no transform at index {transform_index} (spec has {len(spec)})")
    call = spec.calls[transform_index]
    info = catalog_entry(call.name)
    if param not in info.param_names or not info.param(param).sweepable:
        sweepable = ", ".join(p.name for p in info.params if p.sweepable) or "none"
        raise SpecError(f"{call.name}: {param!r} cannot be swept (sweepable: {sweepable})")
    kind = info.param(param).kind
    specs = []
    for value in values:
        kwargs = dict(call.kwargs)
        kwargs[param] = _mapped(kind, value)
        if "p" in info.param_names and param != "p":
            kwargs["p"] = 1.0
        specs.append(spec.replace_call(transform_index, make_call(call.name, kwargs)))
    return specs


def linspace_values(lo: float, hi: float, steps: int) -> np.ndarray:
    """`steps` evenly spaced values from lo to hi inclusive (float64)."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    return np.linspace(float(lo), float(hi), int(steps), dtype=np.float64)
