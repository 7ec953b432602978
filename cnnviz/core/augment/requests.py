"""Sweeps and stability counts: long lab jobs that run in batches on the worker.

Between batches each job yields to waiting live requests (a slider move is answered before
the sweep ends) and stops when cancelled, returning the rows done so far.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from cnnviz.core.augment.pipeline import AugmentPipeline, ImageInput
from cnnviz.core.augment.spec import AugmentSettings, format_spec
from cnnviz.core.augment.sweep import describe_sweep, sweep_specs
from cnnviz.core.requests import QUIET, ImageSource, JobContext, ModelKey, Request

if TYPE_CHECKING:
    from cnnviz.core.session import Session


@dataclass(frozen=True, eq=False)
class SweepOutcome:
    """Top classes' probabilities (N×K) at each swept value; partial if cancelled."""

    transform: str
    param: str
    description: str  # how a value is written into the parameter, in words
    values: np.ndarray  # (N,) float64
    labels: tuple[str, ...]  # K classes with the highest peak probability over the sweep
    indices: tuple[int, ...]
    probabilities: np.ndarray  # (N, K)
    top1: tuple[str, ...]  # the top-1 class at each value
    cancelled: bool


@dataclass(frozen=True, eq=False)
class StabilityOutcome:
    """How often each class is top-1 over `samples` seeded draws of the pipeline."""

    samples: int
    counts: tuple[tuple[str, int], ...]  # (label, count), most frequent first
    baseline_label: str  # top-1 of the un-augmented image
    spec_text: str
    first_seed: int
    cancelled: bool


@dataclass(frozen=True, eq=False)
class SweepResult:
    """Swept values and the N×C class probabilities at each; cancelled if stopped early."""

    values: np.ndarray
    probabilities: np.ndarray
    cancelled: bool


def run_sweep(
    image: ImageInput,
    pipelines: Sequence[AugmentPipeline],
    *,
    seed: int,
    classify: Callable[[list[torch.Tensor]], torch.Tensor],
    batch_size: int = 16,
    context: JobContext = QUIET,
    values: Sequence[float] | None = None,
    mix_with: ImageInput | None = None,
) -> SweepResult:
    """Augment with each pipeline (same seed) and classify in batches until cancelled.

    `values` label the rows (default 0..N-1). A cancelled result holds the rows done so far.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    total = len(pipelines)
    labels = np.arange(total, dtype=np.float64) if values is None else np.asarray(values, float)
    if len(labels) != total:
        raise ValueError(f"{len(labels)} values for {total} pipelines")
    rows: list[np.ndarray] = []
    done = 0
    stopped = False
    while done < total:
        context.yield_to_live()
        if context.cancelled():
            stopped = True
            break
        batch = pipelines[done : done + batch_size]
        images = [p.apply(image, seed=seed, mix_with=mix_with).image for p in batch]
        probs = classify(images)
        if probs.ndim != 2 or probs.shape[0] != len(images):
            raise ValueError(f"classify returned shape {tuple(probs.shape)} for {len(images)}")
        rows.append(probs.detach().to("cpu", torch.float64).numpy())
        done += len(images)
        context.progress(done, total)
    probabilities = np.concatenate(rows) if rows else np.zeros((0, 0))
    return SweepResult(labels[:done].copy(), probabilities, stopped)


def sweep_outcome(
    transform: str,
    param: str,
    values: np.ndarray,
    probabilities: np.ndarray,
    categories: Sequence[str],
    *,
    cancelled: bool,
    k: int = 5,
) -> SweepOutcome:
    """Keep the K classes with the highest peak probability over the swept values."""
    if len(probabilities) == 0:
        keep = np.zeros(0, dtype=np.int64)
        top1: tuple[str, ...] = ()
    else:
        peak = probabilities.max(axis=0)
        keep = np.argsort(-peak, kind="stable")[: min(k, probabilities.shape[1])]
        top1 = tuple(categories[int(i)] for i in probabilities.argmax(axis=1))
    return SweepOutcome(
        transform=transform,
        param=param,
        description=describe_sweep(transform, param),
        values=np.asarray(values, dtype=np.float64),
        labels=tuple(categories[int(i)] for i in keep),
        indices=tuple(int(i) for i in keep),
        probabilities=probabilities[:, keep] if len(probabilities) else np.zeros((0, 0)),
        top1=top1,
        cancelled=cancelled,
    )


@dataclass(frozen=True, eq=False)
class SweepRequest(Request[SweepOutcome]):
    """Sweep one parameter of the transform at `transform_index` over `values`."""

    lane: ClassVar[str] = "sweep"
    long: ClassVar[bool] = True
    progress_label: ClassVar[str] = "Sweep"

    model: ModelKey
    image: ImageSource
    augment: AugmentSettings
    transform_index: int
    param: str
    values: tuple[float, ...]
    batch_size: int = 8
    topk: int = 5

    def execute(self, session: Session, context: JobContext) -> SweepOutcome:
        """Augment at every value (same seed), classify in batches on the engine's device."""
        engine = session.engine_for(self.model, context)
        image, mix = session.image_for(self.image), session.mix_image_for(self.augment)
        spec = self.augment.spec
        specs = sweep_specs(spec, self.transform_index, self.param, self.values)
        result = run_sweep(
            image,
            [session.pipeline_for(s) for s in specs],
            seed=self.augment.seed,
            classify=engine.classify,
            batch_size=self.batch_size,
            context=context,
            values=self.values,
            mix_with=mix,
        )
        return sweep_outcome(
            spec.calls[self.transform_index].name,
            self.param,
            result.values,
            result.probabilities,
            engine.spec.categories,
            cancelled=result.cancelled,
            k=self.topk,
        )


@dataclass(frozen=True, eq=False)
class StabilityRequest(Request[StabilityOutcome]):
    """Draw the pipeline `samples` times with seeds seed, seed+1, … and count top-1s."""

    lane: ClassVar[str] = "sweep"  # one sweep panel: a new run replaces the running one
    long: ClassVar[bool] = True
    progress_label: ClassVar[str] = "Stability"

    model: ModelKey
    image: ImageSource
    augment: AugmentSettings
    samples: int = 32
    batch_size: int = 8

    def execute(self, session: Session, context: JobContext) -> StabilityOutcome:
        """Classify every draw in batches; a cancelled run counts the draws done so far."""
        engine = session.engine_for(self.model, context)
        image, mix = session.image_for(self.image), session.mix_image_for(self.augment)
        pipeline = session.pipeline_for(self.augment.spec)
        seeds = [self.augment.seed + i for i in range(self.samples)]
        winners: list[int] = []
        stopped = False
        for start in range(0, len(seeds), self.batch_size):
            context.yield_to_live()
            if context.cancelled():
                stopped = True
                break
            batch = seeds[start : start + self.batch_size]
            images = [pipeline.apply(image, seed=s, mix_with=mix).image for s in batch]
            winners += engine.classify(images).argmax(dim=1).tolist()
            context.progress(len(winners), len(seeds))
        categories = engine.spec.categories
        tally: dict[str, int] = {}
        for i in winners:
            tally[categories[i]] = tally.get(categories[i], 0) + 1
        counts = tuple(sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])))
        baseline = session.baseline(engine, self.image)
        return StabilityOutcome(
            len(winners),
            counts,
            baseline.top[0].label,
            format_spec(pipeline.spec),
            self.augment.seed,
            stopped,
        )
