"""`cnnviz bench`: timings of cnnviz's work as ratios to a bare torchvision forward.

Absolute milliseconds depend on the machine and on what else runs; the ratio to a plain
`model(x)` measured in the same run is what tells whether cnnviz adds overhead.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from PIL import Image

from cnnviz.defaults import BENCH_ARCHS


@dataclass(frozen=True)
class Timing:
    section: str
    name: str
    median_ms: float
    bare_forward_ms: float

    @property
    def ratio(self) -> float:
        return self.median_ms / self.bare_forward_ms if self.bare_forward_ms else float("nan")

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio": round(self.ratio, 3)}


def median_ms(fn: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bare_forward_ms(engine, repeat: int) -> float:
    """A plain forward of the same model on an already preprocessed tensor, nothing else."""
    size = engine.spec.input_size
    x = torch.rand(1, 3, size, size, device=engine.device)
    model = engine.model

    def run() -> None:
        with torch.inference_mode():
            model(x)
        if engine.device.type == "cuda":
            torch.cuda.synchronize()

    return median_ms(run, repeat)


def bench_forward(arch: str, image: Image.Image, device: str | None, repeat: int) -> list[Timing]:
    from cnnviz.core.engine import Engine

    engine = Engine.load(arch, device=device)
    bare = bare_forward_ms(engine, repeat)
    last_conv = [n for n, m in engine.model.named_modules() if isinstance(m, torch.nn.Conv2d)][-1]
    rows = [
        Timing("forward", f"{arch} bare model(x) forward", bare, bare),
        Timing(
            "forward",
            f"{arch} cnnviz predict (preprocess+forward+top-5)",
            median_ms(lambda: engine.predict(image), repeat),
            bare,
        ),
        Timing(
            "forward",
            f"{arch} predict + capture {last_conv}",
            median_ms(lambda: engine.predict(image, layers=[last_conv]), repeat),
            bare,
        ),
    ]
    return rows


def bench_lab(image: Image.Image, device: str | None, repeat: int) -> list[Timing]:
    """Updates of the augmentation lab while a rotation slider is dragged."""
    from cnnviz.core.augment.lab import run_lab
    from cnnviz.core.engine import Engine

    engine = Engine.load("efficientnet_lite0", device=device)
    bare = bare_forward_ms(engine, repeat)
    angles = iter(range(10**6))

    def update() -> None:
        angle = next(angles) % 90
        spec = (
            f"RandomHorizontalFlip(p=1.0); RandomRotation(degrees=[{angle}, {angle}]); "
            "ColorJitter(brightness=[1.3, 1.3])"
        )
        run_lab(engine, image, spec, seed=0)

    return [
        Timing(
            "lab",
            "efficientnet_lite0 lab update (flip+rotate+jitter)",
            median_ms(update, repeat),
            bare,
        )
    ]


def bench_montage(device: str | None, repeat: int) -> list[Timing]:
    """Tiling feature maps into one montage image, by channel count."""
    from cnnviz.core.engine import Engine
    from cnnviz.core.inspect.montage import make_montage

    engine = Engine.load("efficientnet_lite0", device=device)
    bare = bare_forward_ms(engine, repeat)
    rows = []
    for channels, side in ((64, 112), (256, 28), (512, 14), (2048, 7)):
        act = torch.rand(channels, side, side)
        rows.append(
            Timing(
                "montage",
                f"montage of {channels} channels {side}x{side}",
                median_ms(lambda a=act: make_montage(a, normalise="channel", order="mean"), repeat),
                bare,
            )
        )
    return rows


def bench_layer_view(image: Image.Image, device: str | None, repeat: int) -> list[Timing]:
    """Everything the layer explorer computes for a layer switch (forward, montage, stats,
    kernel grid, im2col check), by channel count."""
    from cnnviz.core.engine import Engine
    from cnnviz.core.inspect.view import build_layer_view
    from cnnviz.core.session import LayerSettings

    rows = []
    for arch, layers in (
        ("efficientnet_lite0", ("features.0.conv", "features.6.0")),
        ("resnet18", ("layer1.0.conv1", "layer4.1.conv2")),
    ):
        engine = Engine.load(arch, device=device)
        bare = bare_forward_ms(engine, repeat)
        for layer in layers:
            view = build_layer_view(engine, image, LayerSettings(layer))
            shape = "x".join(str(n) for n in view.maps.shape)
            ms = median_ms(
                lambda e=engine, n=layer: build_layer_view(e, image, LayerSettings(n)), repeat
            )
            rows.append(Timing("layer", f"{arch} layer view {layer} ({shape})", ms, bare))
    return rows


def run_bench(
    archs: tuple[str, ...] = BENCH_ARCHS,
    *,
    device: str | None = None,
    repeat: int = 20,
    sections: tuple[str, ...] = ("forward", "lab", "layer", "montage"),
) -> list[Timing]:
    from cnnviz.core.images import load_image
    from cnnviz.resources_path import default_sample

    image = load_image(default_sample())
    rows: list[Timing] = []
    if "forward" in sections:
        for arch in archs:
            rows += bench_forward(arch, image, device, repeat)
    if "lab" in sections:
        rows += bench_lab(image, device, repeat)
    if "layer" in sections:
        rows += bench_layer_view(image, device, repeat)
    if "montage" in sections:
        rows += bench_montage(device, repeat)
    return rows


def format_table(rows: list[Timing]) -> str:
    lines = [f"{'what':<66} {'median ms':>10} {'× bare fwd':>10}"]
    for r in rows:
        lines.append(f"{r.name:<66} {r.median_ms:>10.2f} {r.ratio:>10.2f}")
    return "\n".join(lines)
