"""Where the shipped data lives, whether installed as a wheel or run from a checkout."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path


def resources_dir() -> Path:
    # A source tree (e.g. `python -m cnnviz` in a checkout) has resources/ beside the package;
    # prefer it, so that a checkout never reads the resources of another, installed copy.
    beside = Path(__file__).resolve().parent.parent / "resources"
    if (beside / "samples" / "samples.json").is_file():
        return beside
    try:
        return Path(str(files("cnnviz.resources")))
    except ModuleNotFoundError:
        return beside


def samples_dir() -> Path:
    return resources_dir() / "samples"


def samples() -> list[tuple[str, Path]]:
    """(title, path) of every bundled sample image, in the order of samples.json."""
    listing = json.loads((samples_dir() / "samples.json").read_text(encoding="utf-8"))
    return [(entry["title"], samples_dir() / entry["file"]) for entry in listing]


def default_sample() -> Path:
    """The photo the window opens with."""
    return samples_dir() / "cat.jpg"
