"""A labelled image set: a folder of class folders, or a CSV file of path,label rows.

Class folders are named by the class's name (case and '_' for ' ' aside) or, for
ImageNet-1k models, its WordNet id. A folder that names no class, an empty class folder, a
file outside any class folder and a CSV row that names no class are listed as skipped.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cnnviz.core.errors import UserError
from cnnviz.core.labels import LabelError, class_index


class EvalSourceError(UserError, ValueError):
    """A labelled-set location that is neither a folder nor a readable CSV file."""


@dataclass(frozen=True)
class LabelledImage:
    path: str
    label_index: int
    key: str  # path relative to the set's root: the per-image augmentation seed's input


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class LabelledSet:
    """What a folder or CSV holds: the usable images and what was skipped while scanning."""

    root: str
    images: tuple[LabelledImage, ...]
    skipped: tuple[Skipped, ...]


def scan(source: str | os.PathLike[str], categories: Sequence[str]) -> LabelledSet:
    """The labelled images of a class-folder tree or a ``path,label`` CSV file."""
    path = Path(source)
    if path.is_file() and path.suffix.lower() == ".csv":
        return _scan_csv(path, categories)
    if not path.exists():
        raise EvalSourceError(f"{source}: no such folder or CSV file")
    if not path.is_dir():
        raise EvalSourceError(f"{source}: not a folder of class folders or a .csv file")
    images: list[LabelledImage] = []
    skipped: list[Skipped] = []
    for entry in sorted(path.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            skipped.append(Skipped(str(entry), "not inside a class folder"))
            continue
        try:
            index = class_index(categories, entry.name)
        except LabelError as exc:
            skipped.append(Skipped(str(entry), f"folder skipped: {exc}"))
            continue
        files = sorted(
            f
            for f in entry.rglob("*")
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(path).parts)
        )
        if not files:
            skipped.append(Skipped(str(entry), "empty class folder: no files"))
        images += [LabelledImage(str(f), index, f.relative_to(path).as_posix()) for f in files]
    return LabelledSet(str(path), tuple(images), tuple(skipped))


def _scan_csv(path: Path, categories: Sequence[str]) -> LabelledSet:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EvalSourceError(f"{path.name}: cannot read this CSV file ({exc})") from exc
    images: list[LabelledImage] = []
    skipped: list[Skipped] = []
    for number, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if number == 1 and [c.casefold() for c in cells[:2]] == ["path", "label"]:
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            skipped.append(Skipped(f"{path.name}:{number}", "row is not path,label"))
            continue
        file = Path(cells[0]) if Path(cells[0]).is_absolute() else path.parent / cells[0]
        try:
            index = class_index(categories, cells[1])
        except LabelError as exc:
            skipped.append(Skipped(str(file), str(exc)))
            continue
        images.append(LabelledImage(str(file), index, cells[0]))
    return LabelledSet(str(path), tuple(images), tuple(skipped))
