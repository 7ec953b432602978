"""Evaluation throughput for `cnnviz bench`: images per second, and the ratio to bare
batched forwards of the same model on the same number of images, measured in the same run.

The bare forward is ``model(x)`` on random, already preprocessed batches of the evaluation's
batch size: what remains of the ratio above 1 is decoding, resizing, batching and counting.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from cnnviz.core.engine import Engine
from cnnviz.core.evaluate import LabelledImage, LabelledSet, default_workers, evaluate, scan


def _labelled(engine: Engine, source: str | os.PathLike[str] | Sequence[str]) -> LabelledSet:
    if isinstance(source, str | os.PathLike):
        return scan(source, engine.spec.categories)
    # Bare image paths: the label does not matter for timing; call every image class 0.
    images = tuple(LabelledImage(str(p), 0, Path(p).name) for p in source)
    return LabelledSet("", images, ())


def _median_s(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bare_batched_forward_s(engine: Engine, images: int, batch_size: int, repeat: int) -> float:
    """Median seconds of bare forwards over `images` random inputs in batches."""
    size = engine.spec.input_size
    sizes = [batch_size] * (images // batch_size) + (
        [images % batch_size] if images % batch_size else []
    )
    batches = [torch.rand(n, 3, size, size, device=engine.device) for n in sizes]

    def run() -> None:
        with torch.inference_mode():
            for x in batches:
                engine.model(x)
        if engine.device.type == "cuda":
            torch.cuda.synchronize(engine.device)

    run()  # warm-up: allocator growth and kernel choice for these batch shapes
    return _median_s(run, repeat)


def eval_bench_rows(
    engine: Engine,
    folder_or_images: str | os.PathLike[str] | Sequence[str],
    repeat: int = 3,
    *,
    batch_size: int = 32,
    workers: Sequence[int] | None = None,
) -> list[dict[str, object]]:
    """Rows (section, name, median_ms, bare_forward_ms, ratio, images, images_per_s) for the
    bare batched forwards and for `evaluate` with each worker count (default 0 and
    min(2, CPUs)); medians over `repeat` runs."""
    labelled = _labelled(engine, folder_or_images)
    n = len(labelled.images)
    if n == 0:
        return []
    arch = engine.spec.name
    bare = bare_batched_forward_s(engine, n, batch_size, repeat)
    rows = [
        _row(f"{arch} bare batched forward, {n} images in batches of {batch_size}", bare, bare, n)
    ]
    counts = workers if workers is not None else sorted({0, default_workers()})
    for w in counts:
        seconds = _median_s(
            lambda w=w: evaluate(engine, labelled, batch_size=batch_size, workers=w), repeat
        )
        name = f"{arch} eval {n} images, batch {batch_size}, {w} decoding workers"
        rows.append(_row(name, seconds, bare, n))
    return rows


def _row(name: str, seconds: float, bare_seconds: float, images: int) -> dict[str, object]:
    ratio = seconds / bare_seconds if bare_seconds else math.nan
    return {
        "section": "eval",
        "name": name,
        "median_ms": seconds * 1000,
        "bare_forward_ms": bare_seconds * 1000,
        "ratio": round(ratio, 3),
        "images": images,
        "images_per_s": images / seconds if seconds else math.nan,
    }


def sample_photo_set(root: str | os.PathLike[str], copies: int = 4) -> Path:
    """The labelled bundled photos, each `copies` times, as class folders under `root`."""
    import shutil

    from cnnviz.core.labels import sample_labels
    from cnnviz.resources_path import samples_dir

    base = Path(root)
    for label in sample_labels():
        if label.kind == "photo" and label.true_label:
            folder = base / label.true_label.replace(" ", "_")
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(copies):
                shutil.copy(samples_dir() / label.file, folder / f"{k}_{Path(label.file).name}")
    return base


def eval_samples_ms(
    engine: Engine, labelled: LabelledSet, repeat: int, batch_size: int, workers: int
) -> tuple[list[float], list[float]]:
    """(evaluate times, bare batched forward times) in ms, interleaved run by run, so that a
    busy moment of the machine hits both alike."""
    n = len(labelled.images)
    bare_batched_forward_s(engine, n, batch_size, 1)  # warm-up for these batch shapes
    evaluate(engine, labelled, batch_size=batch_size, workers=workers)
    runs, bare = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        evaluate(engine, labelled, batch_size=batch_size, workers=workers)
        runs.append((time.perf_counter() - start) * 1000)
        bare.append(bare_batched_forward_s(engine, n, batch_size, 1) * 1000)
    return runs, bare
