"""Top-1 and top-5 error of a model over a folder of labelled images.

A labelled set is a folder with one sub-folder per class (named by the class's name, case
and '_' for ' ' aside, or, for ImageNet-1k models, its WordNet id such as n01440764), or a
CSV file of ``path,label`` rows (paths relative to the CSV; an optional ``path,label``
header). A class folder that names no class, an empty class folder, a file outside any
class folder and an image that cannot be decoded are reported in ``skipped`` and never stop
the run.

Every image takes the path ``cnnviz predict`` takes: ``load_image`` then the model's own
preprocessing; with an augmentation spec, the augmented uint8 tensor (seeded per image by
:func:`image_seed`, so ``cnnviz predict IMAGE --augment SPEC --seed S`` reproduces one
image's input) goes through that preprocessing. Decoding runs in DataLoader worker
processes; the forward runs here, batch by batch, checking ``cancelled()`` between batches.

Error rates are fractions (0.25 = 25 %); an image whose true class is ranked k-th among all
classes (ties by class index) counts as a top-1 hit for k = 1 and a top-5 hit for k <= 5.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from cnnviz.core.augment.catalog import catalog_entry
from cnnviz.core.augment.pipeline import AugmentPipeline
from cnnviz.core.augment.spec import AugmentSpec, SpecError, format_spec, parse_spec
from cnnviz.core.engine import Engine, as_pil
from cnnviz.core.images import ImageLoadError, load_image
from cnnviz.core.labelled_set import (
    EvalSourceError,
    LabelledImage,
    LabelledSet,
    Skipped,
    scan,
)
from cnnviz.core.labels import rank_of

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]
Transform = Callable[[object], torch.Tensor]


def default_workers() -> int:
    return min(2, os.cpu_count() or 1)


def image_seed(seed: int, key: str) -> int:
    """The augmentation seed of one image: from the run's seed and its path in the set."""
    digest = hashlib.sha256(f"{int(seed)}/{key}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFF_FFFF


# --- decoding in worker processes -----------------------------------------------------------


class _Decoded(Dataset):
    """Item i: (i, the model's input tensor or None, why it could not be decoded)."""

    def __init__(
        self,
        images: Sequence[LabelledImage],
        transform: Transform,
        spec: AugmentSpec | None,
        seed: int,
    ) -> None:
        self.images = list(images)
        self.transform = transform
        self.spec = spec
        self.seed = seed
        self._pipeline: AugmentPipeline | None = None  # built in each worker on first use

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str | None]:
        item = self.images[i]
        try:
            image = load_image(item.path)
            if self.spec is None:
                return i, self.transform(image), None
            if self._pipeline is None:
                self._pipeline = AugmentPipeline(self.spec)
            augmented = self._pipeline.apply(image, seed=image_seed(self.seed, item.key))
            return i, self.transform(as_pil(augmented.image)), None
        except (ImageLoadError, SpecError) as exc:
            return i, None, str(exc)


def _collate(
    items: list[tuple[int, torch.Tensor | None, str | None]],
) -> tuple[list[int], torch.Tensor | None, list[tuple[int, str]]]:
    good = [(i, x) for i, x, _ in items if x is not None]
    bad = [(i, err or "unreadable") for i, x, err in items if x is None]
    batch = torch.stack([x for _, x in good]) if good else None
    return [i for i, _ in good], batch, bad


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassStats:
    label: str
    index: int
    images: int
    top1_misses: int
    top5_misses: int

    @property
    def top1_error(self) -> float:
        return self.top1_misses / self.images

    @property
    def top5_error(self) -> float:
        return self.top5_misses / self.images

    def as_dict(self) -> dict[str, float | int]:
        return {"images": self.images, "top1_error": self.top1_error, "top5_error": self.top5_error}


@dataclass(frozen=True)
class ConfusedPair:
    true_label: str
    predicted: str
    count: int


@dataclass(frozen=True)
class Misclassified:
    """An image whose top-1 is not its true class."""

    path: str
    true_label: str
    predicted: str
    probability: float  # of the predicted class
    true_rank: int
    true_probability: float
    seed: int | None  # its augmentation seed, if augmented

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "true": self.true_label,
            "predicted": self.predicted,
            "probability": self.probability,
            "true_rank": self.true_rank,
            "true_probability": self.true_probability,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Evaluation:
    """Top-1/top-5 error over a labelled set; partial (and flagged) if cancelled."""

    arch: str
    source: str
    images: int  # images classified
    top1_misses: int
    top5_misses: int
    per_class: tuple[ClassStats, ...]  # in class-index order
    most_confused: tuple[ConfusedPair, ...]  # top-1 misses by (true, predicted), most first
    misclassified: tuple[Misclassified, ...]  # in the set's order
    skipped: tuple[Skipped, ...]
    spec_text: str
    seed: int
    cancelled: bool
    total: int  # images the set held (classified + unreadable + not reached)
    elapsed_s: float

    @property
    def top1_error(self) -> float | None:
        return self.top1_misses / self.images if self.images else None

    @property
    def top5_error(self) -> float | None:
        return self.top5_misses / self.images if self.images else None

    @property
    def images_per_s(self) -> float:
        return self.images / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "images": self.images,
            "top1_error": self.top1_error,
            "top5_error": self.top5_error,
            "per_class": {c.label: c.as_dict() for c in self.per_class},
            "skipped": [s.as_dict() for s in self.skipped],
            "arch": self.arch,
            "source": self.source,
            "augment": {"spec": self.spec_text, "seed": self.seed} if self.spec_text else None,
            "most_confused": [
                {"true": p.true_label, "predicted": p.predicted, "count": p.count}
                for p in self.most_confused
            ],
            "misclassified": [m.as_dict() for m in self.misclassified],
            "cancelled": self.cancelled,
        }


class _Tally:
    """Counts as batches arrive."""

    def __init__(self, categories: Sequence[str], augmented: bool, seed: int) -> None:
        self.categories = categories
        self.augmented = augmented
        self.seed = seed
        self.seen: Counter[int] = Counter()
        self.top1: Counter[int] = Counter()
        self.top5: Counter[int] = Counter()
        self.pairs: Counter[tuple[int, int]] = Counter()
        self.misclassified: list[Misclassified] = []
        self.skipped: list[Skipped] = []

    def add(self, item: LabelledImage, probabilities: np.ndarray) -> None:
        truth = item.label_index
        rank = rank_of(probabilities, truth)
        self.seen[truth] += 1
        if rank > 5:
            self.top5[truth] += 1
        if rank == 1:
            return
        self.top1[truth] += 1
        predicted = int(np.argmax(probabilities))  # the first maximum: rank 1, ties by index
        self.pairs[(truth, predicted)] += 1
        self.misclassified.append(
            Misclassified(
                item.path,
                self.categories[truth],
                self.categories[predicted],
                float(probabilities[predicted]),
                rank,
                float(probabilities[truth]),
                image_seed(self.seed, item.key) if self.augmented else None,
            )
        )

    def per_class(self) -> tuple[ClassStats, ...]:
        return tuple(
            ClassStats(self.categories[c], c, n, self.top1[c], self.top5[c])
            for c, n in sorted(self.seen.items())
        )

    def most_confused(self) -> tuple[ConfusedPair, ...]:
        ordered = sorted(self.pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        return tuple(
            ConfusedPair(self.categories[t], self.categories[p], n) for (t, p), n in ordered
        )


def _spec(augment: str | AugmentSpec | None) -> AugmentSpec | None:
    if augment is None:
        return None
    spec = parse_spec(augment) if isinstance(augment, str) else augment
    if not spec.calls:
        return None
    for call in spec.calls:
        if catalog_entry(call.name).needs_second_image:
            raise SpecError(f"{call.name} needs a second image; it cannot evaluate a folder")
    return spec


def evaluate(
    engine: Engine,
    source: str | os.PathLike[str] | LabelledSet,
    *,
    augment: str | AugmentSpec | None = None,
    seed: int = 0,
    batch_size: int = 32,
    workers: int | None = None,
    multiprocessing_context: str | None = None,
    progress: ProgressFn | None = None,
    cancelled: CancelFn | None = None,
) -> Evaluation:
    """Classify every labelled image in batches and count top-1 and top-5 misses.

    `workers` decode in parallel (default :func:`default_workers`; 0 decodes here);
    `multiprocessing_context` ("spawn", "forkserver") overrides torch's default start method.
    """
    if batch_size < 1:
        raise EvalSourceError("the batch size must be at least 1")
    start = time.perf_counter()
    spec = _spec(augment)
    labelled = source if isinstance(source, LabelledSet) else scan(source, engine.spec.categories)
    tally = _Tally(engine.spec.categories, spec is not None, seed)
    tally.skipped = list(labelled.skipped)
    dataset = _Decoded(labelled.images, engine.preprocess, spec, seed)
    n_workers = default_workers() if workers is None else max(0, workers)
    stopped = _run_batches(
        engine, dataset, tally, batch_size, n_workers, multiprocessing_context, progress, cancelled
    )
    return Evaluation(
        arch=engine.spec.name,
        source=labelled.root,
        images=sum(tally.seen.values()),
        top1_misses=sum(tally.top1.values()),
        top5_misses=sum(tally.top5.values()),
        per_class=tally.per_class(),
        most_confused=tally.most_confused(),
        misclassified=tuple(tally.misclassified),
        skipped=tuple(tally.skipped),
        spec_text=format_spec(spec) if spec is not None else "",
        seed=int(seed),
        cancelled=stopped,
        total=len(labelled.images),
        elapsed_s=time.perf_counter() - start,
    )


def _run_batches(
    engine: Engine,
    dataset: _Decoded,
    tally: _Tally,
    batch_size: int,
    workers: int,
    context: str | None,
    progress: ProgressFn | None,
    cancelled: CancelFn | None,
) -> bool:
    """Feed the set through the model; True if cancelled before the end."""
    total = len(dataset)
    if total == 0:
        return False
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_collate,
        multiprocessing_context=context if workers > 0 else None,
    )
    done = 0
    batches = iter(loader)
    try:
        for indices, batch, bad in batches:
            if cancelled is not None and cancelled():
                return True
            for i, reason in bad:
                tally.skipped.append(Skipped(dataset.images[i].path, reason))
            if batch is not None:
                probabilities = torch.softmax(engine.forward(batch), dim=1).numpy()
                for i, p in zip(indices, probabilities, strict=True):
                    tally.add(dataset.images[i], p)
            done += len(indices) + len(bad)
            if progress is not None:
                progress(done, total)
    finally:
        # Stop the worker processes now, also on cancel or error, not when collected.
        shutdown = getattr(batches, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
    return False
