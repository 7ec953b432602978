"""A fine-tuned linear head: a safetensors file that replaces an architecture's last layer.

The file holds two tensors, ``weight`` (classes × features) and ``bias`` (classes), and its
metadata names the format, the architecture, the replaced layer and the class names (a JSON
list). ``Engine.load(arch, weights_file=head)`` builds the architecture with its usual
backbone weights, swaps the layer for the head and predicts the head's classes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnviz.core.files import clip, path_problem
from cnnviz.core.zoo.file_checks import safetensors_problem
from cnnviz.core.zoo.registry import ArchSpec
from cnnviz.core.zoo.weights import (
    CancelCheck,
    ProgressCallback,
    Source,
    WeightsError,
    WeightsInfo,
    load_model,
    sha256_of,
)

HEAD_FORMAT = "cnnviz-linear-head/1"
MAX_CLASSES = 1000


@dataclass(frozen=True, eq=False)
class LinearHead:
    """A linear classifier over an architecture's penultimate features."""

    arch: str
    layer: str  # the module it replaces, e.g. "classifier.1" or "fc"
    classes: tuple[str, ...]
    weight: np.ndarray  # (classes, features) float32
    bias: np.ndarray  # (classes,) float32


def last_linear(model: nn.Module) -> str:
    """The name of the model's last nn.Linear (its classifier layer)."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise WeightsError(f"{type(model).__name__} has no linear classifier layer to replace")
    return names[-1]


def save_head(head: LinearHead, path: str | os.PathLike[str]) -> Path:
    """Write `head` as a safetensors file with its class names in the metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    save_file(
        {
            "weight": torch.from_numpy(np.ascontiguousarray(head.weight, dtype=np.float32)),
            "bias": torch.from_numpy(np.ascontiguousarray(head.bias, dtype=np.float32)),
        },
        str(path),
        metadata={
            "format": HEAD_FORMAT,
            "arch": head.arch,
            "layer": head.layer,
            "classes": json.dumps(list(head.classes)),
        },
    )
    return path


def read_head(path: str | os.PathLike[str]) -> LinearHead | None:
    """The head in `path`, or None when the file is not a cnnviz head (an ordinary state
    dict); WeightsError when it claims to be a head but is malformed."""
    path = Path(path)
    if path.suffix != ".safetensors" or path_problem(path, "a weights file") is not None:
        return None
    if safetensors_problem(path) is not None:
        return None  # read_state_dict reports it
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != HEAD_FORMAT:
                return None
            keys = set(f.keys())
            if keys != {"weight", "bias"}:
                raise WeightsError(f"{path.name}: a head holds weight and bias, not {sorted(keys)}")
            weight, bias = f.get_tensor("weight"), f.get_tensor("bias")
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise WeightsError(f"{path.name}: damaged head file ({clip(str(exc), 120)})") from exc
    try:
        classes = json.loads(meta.get("classes", ""))
    except json.JSONDecodeError:
        classes = None
    if (
        not isinstance(classes, list)
        or not 2 <= len(classes) <= MAX_CLASSES
        or not all(isinstance(c, str) and c for c in classes)
    ):
        raise WeightsError(f"{path.name}: the head's class names are missing or malformed")
    if (
        weight.ndim != 2
        or bias.shape != (len(classes),)
        or weight.shape[0] != len(classes)
        or not weight.is_floating_point()
        or not bias.is_floating_point()
    ):
        raise WeightsError(
            f"{path.name}: head shapes {tuple(weight.shape)} and {tuple(bias.shape)} do not fit "
            f"{len(classes)} classes"
        )
    if not (torch.isfinite(weight).all() and torch.isfinite(bias).all()):
        raise WeightsError(f"{path.name}: the head holds NaN or infinite values")
    return LinearHead(
        arch=str(meta.get("arch", "")),
        layer=str(meta.get("layer", "")),
        classes=tuple(classes),
        weight=weight.float().numpy(),
        bias=bias.float().numpy(),
    )


def attach_head(model: nn.Module, head: LinearHead, label: str = "head") -> None:
    """Replace `model`'s layer `head.layer` (an nn.Linear) with the head, in place."""
    modules = dict(model.named_modules())
    old = modules.get(head.layer)
    if not isinstance(old, nn.Linear):
        raise WeightsError(f"{label}: the model has no linear layer {head.layer!r} to replace")
    if old.in_features != head.weight.shape[1]:
        raise WeightsError(
            f"{label}: the head takes {head.weight.shape[1]} features, but {head.layer} "
            f"receives {old.in_features}"
        )
    new = nn.Linear(old.in_features, len(head.classes))
    with torch.no_grad():
        new.weight.copy_(torch.from_numpy(head.weight))
        new.bias.copy_(torch.from_numpy(head.bias))
    parent_name, _, attr = head.layer.rpartition(".")
    parent = modules[parent_name] if parent_name else model
    setattr(parent, attr, new.to(old.weight.device).eval())


def load_with_head(
    spec: ArchSpec,
    weights_file: str | os.PathLike[str],
    *,
    allow_download: bool = False,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> tuple[ArchSpec, nn.Module, WeightsInfo] | None:
    """The architecture with its usual backbone weights and the head of `weights_file`
    swapped in, its spec predicting the head's classes; None if the file is not a head."""
    head = read_head(weights_file)
    if head is None:
        return None
    path = Path(weights_file)
    if head.arch != spec.name:
        raise WeightsError(
            f"{path.name}: a head fine-tuned on {head.arch or 'an unknown architecture'}, "
            f"not {spec.name}"
        )
    model, backbone = load_model(
        spec, allow_download=allow_download, progress=progress, cancelled=cancelled
    )
    if backbone.untrained:
        raise WeightsError(
            f"{path.name}: {spec.name} has no trained backbone weights here, so the features "
            "the head was trained on cannot be reproduced"
        )
    attach_head(model, head, path.name)
    info = WeightsInfo(
        Source.FILE,
        str(path),
        sha256_of(path),
        f"fine-tuned head {path.name} ({len(head.classes)} classes) on {backbone.description}",
    )
    return replace(spec, categories=head.classes), model.eval(), info
