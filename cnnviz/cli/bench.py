"""`cnnviz bench`: cnnviz's work as ratios to a bare forward of the same model, in one run.

Absolute milliseconds depend on the machine and on what else runs on it (these machines are
shared), so every figure is timed interleaved with a plain `model(x)` on an already
preprocessed tensor, and reported as min, median and max with the ratio of medians. A figure
whose spread is large is flagged noisy.

The headline `ratio` is the default model's whole live-update compute path, exactly what the
window's worker runs for a slider tick in the augmentation lab with the layer explorer open:
decoded image (cached), augment, preprocess, one forward with the layer captured, top-5,
the lab's comparison and the montage.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from cnnviz.defaults import BENCH_ARCHS, BENCH_SECTIONS, DEFAULT_ARCH

if TYPE_CHECKING:
    from cnnviz.core.engine import Engine

# (p90 - p10) / median above this: the machine was busy, the figure is not to be trusted.
NOISY_SPREAD = 0.3


@dataclass(frozen=True)
class Figure:
    """One timed thing: its samples' summary and the bare forward timed beside it."""

    name: str
    min_ms: float
    median_ms: float
    max_ms: float
    spread: float  # (p90 - p10) / median
    bare_median_ms: float

    @property
    def ratio(self) -> float:
        return self.median_ms / self.bare_median_ms if self.bare_median_ms else float("nan")

    @property
    def noisy(self) -> bool:
        return self.spread > NOISY_SPREAD

    def as_dict(self) -> dict[str, object]:
        return {
            "min_ms": round(self.min_ms, 3),
            "median_ms": round(self.median_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "bare_forward_ms": round(self.bare_median_ms, 3),
            "ratio": round(self.ratio, 3),
            "noisy": self.noisy,
        }


def _summary(name: str, samples: Sequence[float], bare: float) -> Figure:
    ordered = sorted(samples)
    median = statistics.median(ordered)
    p10 = ordered[int(0.1 * (len(ordered) - 1))]
    p90 = ordered[int(round(0.9 * (len(ordered) - 1)))]
    spread = (p90 - p10) / median if median else 0.0
    return Figure(name, ordered[0], median, ordered[-1], spread, bare)


def _ms(fn: Callable[[], object], sync: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    sync()
    return (time.perf_counter() - start) * 1000


def _sync_for(engine: Engine) -> Callable[[], None]:
    if engine.device.type == "cuda":
        return lambda: torch.cuda.synchronize(engine.device)
    return lambda: None


def bare_forward(engine: Engine) -> Callable[[], object]:
    """A plain forward of the engine's model on a preprocessed tensor, nothing else."""
    size = engine.spec.input_size
    x = torch.rand(1, 3, size, size, device=engine.device)
    model = engine.model

    def run() -> None:
        with torch.inference_mode():
            model(x)

    return run


def interleaved(
    engine: Engine, named: Sequence[tuple[str, Callable[[], object]]], repeat: int
) -> list[Figure]:
    """Time each function and a bare forward in turn, `repeat` rounds (after one warm-up)."""
    sync = _sync_for(engine)
    bare_fn = bare_forward(engine)
    for _, fn in named:
        fn()
    bare_fn()
    samples: dict[str, list[float]] = {name: [] for name, _ in named}
    bare: list[float] = []
    for _ in range(repeat):
        bare.append(_ms(bare_fn, sync))
        for name, fn in named:
            samples[name].append(_ms(fn, sync))
    bare_median = statistics.median(bare)
    figures = [_summary(f"{engine.spec.name} bare model(x) forward", bare, bare_median)]
    figures += [_summary(name, samples[name], bare_median) for name, _ in named]
    return figures


def live_updates(
    engine_arch: str, device: str | None, *, explorer: bool = True
) -> tuple[Engine, Callable[[], object]]:
    """The worker's live path for a rotation slider being dragged (with the layer explorer
    open on the first convolution's maps and statistics, unless `explorer` is False: the
    Augment workspace, where the explorer is hidden)."""
    from cnnviz.core.analysis import AnalysisRequest
    from cnnviz.core.augment.spec import AugmentSettings, parse_spec
    from cnnviz.core.inspect.settings import LayerSettings
    from cnnviz.core.requests import QUIET, ModelKey
    from cnnviz.core.session import Session
    from cnnviz.resources_path import default_sample

    session = Session()
    key = ModelKey(engine_arch, device=device)
    engine = session.engine_for(key)
    image = str(default_sample())
    layer = LayerSettings("@first-conv", parts=frozenset({"maps", "stats"})) if explorer else None
    angles: Iterator[int] = iter(range(10**9))

    def update() -> object:
        angle = next(angles) % 90  # a new angle each time: nothing is served from a cache
        spec = parse_spec(
            f"RandomHorizontalFlip(p=1.0); RandomRotation(degrees=[{angle}, {angle}]); "
            "ColorJitter(brightness=[1.3, 1.3])"
        )
        request = AnalysisRequest(key, image, augment=AugmentSettings(spec), layer=layer)
        return session.run(request, QUIET)  # as the window's worker runs it

    return engine, update


LIVE_THREADS = 1  # what Session.run gives a short (live) job; see intra_op_threads


def bench_live(device: str | None, repeat: int) -> list[Figure]:
    """The live updates as the worker runs them (torch on one thread), a bare forward on
    torch's default threads (the reference of every ratio) and one on the worker's thread."""
    from cnnviz.core.device import intra_op_threads

    engine, update = live_updates(DEFAULT_ARCH, device)
    _, lab_only = live_updates(DEFAULT_ARCH, device, explorer=False)
    bare = bare_forward(engine)

    def bare_on_worker_threads() -> None:
        with intra_op_threads(LIVE_THREADS):
            bare()

    return interleaved(
        engine,
        [
            (
                f"{DEFAULT_ARCH} bare forward on the worker's {LIVE_THREADS} thread",
                bare_on_worker_threads,
            ),
            (f"{DEFAULT_ARCH} live update (lab + layer explorer)", update),
            (f"{DEFAULT_ARCH} live update (lab only, as in the Augment workspace)", lab_only),
        ],
        repeat,
    )


def bench_forward(archs: Sequence[str], device: str | None, repeat: int) -> list[Figure]:
    from cnnviz.core.engine import Engine
    from cnnviz.core.images import load_image
    from cnnviz.resources_path import default_sample

    image = load_image(default_sample())
    figures = []
    for arch in archs:
        engine = Engine.load(arch, device=device)
        last_conv = [n for n, m in engine.model.named_modules() if isinstance(m, torch.nn.Conv2d)]
        named: list[tuple[str, Callable[[], object]]] = [
            (f"{arch} predict (preprocess+forward+top-5)", lambda e=engine: e.predict(image)),
            (
                f"{arch} predict + capture {last_conv[-1]}",
                lambda e=engine, n=last_conv[-1]: e.predict_capturing(image, n),
            ),
        ]
        figures += interleaved(engine, named, repeat)
    return figures


def bench_layer_view(device: str | None, repeat: int) -> list[Figure]:
    """A layer switch: one forward with the layer captured, montage, stats, kernels, im2col."""
    from cnnviz.core.engine import Engine
    from cnnviz.core.images import load_image
    from cnnviz.core.inspect.settings import LayerSettings
    from cnnviz.core.inspect.view import build_layer_view
    from cnnviz.resources_path import default_sample

    image = load_image(default_sample())
    engine = Engine.load(DEFAULT_ARCH, device=device)
    named: list[tuple[str, Callable[[], object]]] = []
    for layer in ("features.0.conv", "features.6.0"):
        view = build_layer_view(engine, image, LayerSettings(layer))
        shape = "x".join(str(n) for n in view.maps.shape)
        named.append(
            (
                f"{DEFAULT_ARCH} layer view {layer} ({shape})",
                lambda n=layer: build_layer_view(engine, image, LayerSettings(n)),
            )
        )
    return interleaved(engine, named, repeat)


def bench_montage(device: str | None, repeat: int) -> list[Figure]:
    """Tiling feature maps into one montage image, by channel count."""
    from cnnviz.core.engine import Engine
    from cnnviz.core.inspect.montage import make_montage

    engine = Engine.load(DEFAULT_ARCH, device=device)
    named: list[tuple[str, Callable[[], object]]] = []
    for channels, side in ((64, 112), (256, 28), (512, 14), (2048, 7)):
        act = torch.rand(channels, side, side).numpy()
        named.append(
            (
                f"montage of {channels} channels {side}x{side}",
                lambda a=act: make_montage(a, normalise="channel", order="mean"),
            )
        )
    return interleaved(engine, named, repeat)


def bench_explain(device: str | None, repeat: int) -> list[Figure]:
    """Every explanation method on the default model with its default options (the CAMs at
    the last conv block), and the `grad-cam` package's GradCAM on the same input when it is
    installed. The many-pass methods (SmoothGrad, integrated gradients, occlusion) take
    seconds, so they get at most `HEAVY_REPEAT` rounds, with a bare forward in each."""
    from cnnviz.cli.bench_explain import HEAVY_REPEAT, gradcam_package
    from cnnviz.core.engine import Engine
    from cnnviz.core.explain.cam import default_cam_layer
    from cnnviz.core.explain.methods import explain
    from cnnviz.core.images import load_image
    from cnnviz.resources_path import default_sample

    engine = Engine.load(DEFAULT_ARCH, device=device)
    image = load_image(default_sample())
    x = engine.to_tensor(image).unsqueeze(0).to(engine.device)
    target = int(engine.predict(image).top[0].index)

    def methods(*names: str) -> list[tuple[str, Callable[[], object]]]:
        return [
            (f"{DEFAULT_ARCH} {name}", lambda m=name: explain(engine, x[0], m, target_class=target))
            for name in names
        ]

    named = methods("gradcam", "gradcam++", "saliency")
    heavy = methods("smoothgrad", "ig", "occlusion")
    package = gradcam_package(engine, x, default_cam_layer(engine.model, x), target)
    if package is not None:
        run, close = package
        named.append(("grad-cam package GradCAM (same layer and class)", run))
    try:
        cheap = interleaved(engine, named, repeat)
        return cheap + interleaved(engine, heavy, min(repeat, HEAVY_REPEAT))[1:]
    finally:
        if package is not None:
            close()


def bench_eval(device: str | None, repeat: int, batch_size: int = 16) -> list[Figure]:
    """`cnnviz eval` of the default model over the labelled sample photos (each 4 times),
    with 0 and the default number of decoding workers; its ratio is to bare batched
    forwards of as many random inputs, timed alternately with it."""
    import tempfile

    from cnnviz.cli.bench_eval import eval_samples_ms, sample_photo_set
    from cnnviz.core.engine import Engine
    from cnnviz.core.evaluate import default_workers, scan

    engine = Engine.load(DEFAULT_ARCH, device=device)
    figures = []
    with tempfile.TemporaryDirectory() as root:
        labelled = scan(sample_photo_set(root), engine.spec.categories)
        n = len(labelled.images)
        for workers in sorted({0, default_workers()}):
            runs, bare = eval_samples_ms(engine, labelled, max(3, repeat // 3), batch_size, workers)
            rate = n / statistics.median(runs) * 1000
            name = f"eval {n} photos, batch {batch_size}, {workers} workers: {rate:.1f} images/s"
            figures.append(_summary(name, runs, statistics.median(bare)))
    return figures


def bench_window(bare_ms: float, steps: int) -> list[Figure]:
    """The real window, offscreen: a lab slider moved, the result drawn by every panel."""
    from cnnviz.app import window_rates
    from cnnviz.resources_path import default_sample

    step_ms, draw_ms, dragging = window_rates(str(default_sample()), steps)
    return [
        _summary(
            f"window: slider move to result drawn ({1000 / statistics.median(step_ms):.1f}"
            f" per second; {dragging:.1f} per second while dragging)",
            step_ms,
            bare_ms,
        ),
        _summary("window: every panel's redraw of one result", draw_ms, bare_ms),
    ]


@dataclass(frozen=True)
class BenchReport:
    device: str
    ratio: float  # the live update over a bare forward of the default model
    ratio_same_threads: float  # ... over a bare forward on the worker's threads
    sections: dict[str, list[Figure]]

    def as_dict(self) -> dict[str, object]:
        return {
            "device": self.device,
            "ratio": round(self.ratio, 3),
            "ratio_same_threads": round(self.ratio_same_threads, 3),
            "sections": {
                name: {f.name: f.as_dict() for f in figures}
                for name, figures in self.sections.items()
            },
        }


def run_bench(
    archs: Sequence[str] = BENCH_ARCHS,
    *,
    device: str | None = None,
    repeat: int = 15,
    sections: Sequence[str] = BENCH_SECTIONS,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> BenchReport:
    """Run the chosen sections; the live section always runs (it gives the headline)."""
    from cnnviz.core.device import device_label, resolve_device

    started = time.perf_counter()

    def say(section: str) -> None:
        progress(f"bench: {section} (after {time.perf_counter() - started:.0f} s)")

    results: dict[str, list[Figure]] = {}
    say("live")
    results["live"] = bench_live(device, repeat)
    bare = results["live"][0].median_ms
    runners: dict[str, Callable[[], list[Figure]]] = {
        "forward": lambda: bench_forward(archs, device, repeat),
        "layer": lambda: bench_layer_view(device, repeat),
        "montage": lambda: bench_montage(device, repeat),
        "explain": lambda: bench_explain(device, repeat),
        "eval": lambda: bench_eval(device, repeat),
        "window": lambda: bench_window(bare, repeat),
    }
    for section in sections:
        if section in runners:
            say(section)
            results[section] = runners[section]()
    say("done")
    _bare, bare_worker, live, _lab_only = results["live"]
    return BenchReport(
        device_label(resolve_device(device)),
        live.ratio,
        live.median_ms / bare_worker.median_ms,
        results,
    )


def format_report(report: BenchReport) -> str:
    lines = [
        f"device: {report.device}; torch {torch.__version__}, {torch.get_num_threads()} threads",
        f"live update / bare forward: {report.ratio:.2f}x "
        f"({report.ratio_same_threads:.2f}x a bare forward on the worker's {LIVE_THREADS} thread)",
        f"{'what':<62} {'min':>8} {'median':>8} {'max':>8} {'x bare':>7}",
    ]
    for section, figures in report.sections.items():
        lines.append(f"[{section}]")
        for f in figures:
            flag = "  noisy" if f.noisy else ""
            lines.append(
                f"{f.name:<62} {f.min_ms:>8.2f} {f.median_ms:>8.2f} {f.max_ms:>8.2f}"
                f" {f.ratio:>7.2f}{flag}"
            )
    return "\n".join(lines)
