"""True labels: rank of a class, top-k hits, class search, WordNet ids, the samples' labels.

Ranks are 1-based over the full probability vector; ties go to the lower class index
(the same order as ``cnnviz.core.augment.lab.ranks_of`` and a stable descending sort).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from cnnviz.core.errors import UserError
from cnnviz.resources_path import resources_dir, samples_dir

WNID_PATTERN = re.compile(r"n\d{8}")


class LabelError(UserError, ValueError):
    """A label text that names no class of the model."""


@dataclass(frozen=True)
class TruthResult:
    """Where the true class landed in one prediction."""

    index: int
    label: str
    rank: int  # 1-based among all classes
    probability: float

    @property
    def top1_hit(self) -> bool:
        return self.rank == 1

    @property
    def top5_hit(self) -> bool:
        return self.rank <= 5

    def hit_within(self, k: int) -> bool:
        return self.rank <= k

    def as_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "label": self.label,
            "rank": self.rank,
            "probability": self.probability,
            "top1_hit": self.top1_hit,
            "top5_hit": self.top5_hit,
        }


def rank_of(probabilities: np.ndarray | Sequence[float], class_index: int) -> int:
    """1-based rank of `class_index` (1 = most probable; ties by class index)."""
    p = np.asarray(probabilities)
    if not 0 <= class_index < p.shape[-1]:
        raise IndexError(f"class index {class_index} outside 0..{p.shape[-1] - 1}")
    mine = p[class_index]
    above = int(np.count_nonzero(p > mine))
    tied_before = int(np.count_nonzero(p[:class_index] == mine))
    return above + tied_before + 1


def truth_of(probabilities: np.ndarray, class_index: int, categories: Sequence[str]) -> TruthResult:
    """The true class's rank and probability in one prediction's full probability vector."""
    return TruthResult(
        index=int(class_index),
        label=categories[class_index],
        rank=rank_of(probabilities, class_index),
        probability=float(np.asarray(probabilities)[class_index]),
    )


def search_classes(categories: Sequence[str], text: str) -> tuple[tuple[int, str], ...]:
    """(index, label) of the classes whose name contains `text` (case-insensitive).

    Exact matches come first, then names starting with the text, then the rest, each in
    class-index order. An empty text matches every class.
    """
    needle = text.strip().casefold()
    found = [(i, c) for i, c in enumerate(categories) if needle in c.casefold()]
    return tuple(sorted(found, key=lambda ic: _match_order(ic, needle)))


def _match_order(item: tuple[int, str], needle: str) -> tuple[int, int]:
    name = item[1].casefold()
    return (0 if name == needle else 1 if name.startswith(needle) else 2, item[0])


def is_wnid(text: str) -> bool:
    """Whether `text` looks like a WordNet id (n + 8 digits, e.g. n01440764)."""
    return WNID_PATTERN.fullmatch(text.strip()) is not None


@cache
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet-1k WordNet ids in class-index order (bundled; see its header)."""
    text = (resources_dir() / "imagenet_wnids.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip()[:1] == "n")


@cache
def _imagenet_categories() -> tuple[str, ...]:
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def class_index(categories: Sequence[str], text: str) -> int:
    """The class named `text`: its exact name (case-insensitive, '_' read as a space) or,
    for ImageNet-1k models, its WordNet id; LabelError otherwise."""
    wanted = text.strip()
    if is_wnid(wanted):
        if tuple(categories) != _imagenet_categories():
            raise LabelError(
                f"{wanted!r} is a WordNet id, but this model's classes are not ImageNet's"
            )
        try:
            return imagenet_wnids().index(wanted)
        except ValueError:
            raise LabelError(f"{wanted!r} is not one of ImageNet-1k's 1000 WordNet ids") from None
    index = _name_index(tuple(categories)).get(_fold(wanted))
    if index is None:
        raise LabelError(f"no class named {wanted!r} among the model's {len(categories)} classes")
    return index


def _fold(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).casefold()


@cache
def _name_index(categories: tuple[str, ...]) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, c in enumerate(categories):
        index.setdefault(_fold(c), i)
    return index


# --- the bundled samples' recorded labels ------------------------------------------------


@dataclass(frozen=True)
class SampleLabel:
    """A bundled sample's true class (None where its classes have none) and a note."""

    file: str  # relative to the samples folder, e.g. "cat.jpg"
    kind: str  # "photo" (ImageNet) or "digit" (LeNet's digits)
    true_label: str | None
    note: str | None


@cache
def sample_labels() -> tuple[SampleLabel, ...]:
    """Every bundled sample's recorded label, in the order of samples.json."""
    listing = json.loads((samples_dir() / "samples.json").read_text(encoding="utf-8"))
    return tuple(
        SampleLabel(e["file"], e["kind"], e.get("true_label"), e.get("note")) for e in listing
    )


def sample_label(path: str | os.PathLike[str]) -> SampleLabel | None:
    """The recorded label of a bundled sample file, or None for any other file."""
    try:
        resolved = Path(path).resolve()
    except OSError:
        return None
    root = samples_dir().resolve()
    for label in sample_labels():
        if (root / label.file).resolve() == resolved:
            return label
    # The same picture elsewhere (a copy, or the checkout's copy of an installed sample)
    # is the same sample: compare contents, only where the sizes already agree.
    try:
        size = resolved.stat().st_size
    except OSError:
        return None
    for label in sample_labels():
        candidate = root / label.file
        same_size = candidate.is_file() and candidate.stat().st_size == size
        if same_size and _digest(candidate) == _digest(resolved):
            return label
    return None


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
