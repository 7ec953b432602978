"""The bundled sample images: present, real, licensed, and labelled with real class names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision.models import ResNet18_Weights

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"
ENTRIES = json.loads((SAMPLES / "samples.json").read_text())
PHOTOS = [e for e in ENTRIES if e["kind"] == "photo"]
DIGITS = [e for e in ENTRIES if e["kind"] == "digit"]
CATEGORIES = set(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
LICENCES = (SAMPLES / "LICENSES.md").read_text()


def test_kinds_are_known_and_files_unique() -> None:
    assert {e["kind"] for e in ENTRIES} == {"photo", "digit"}
    files = [e["file"] for e in ENTRIES]
    assert len(files) == len(set(files))
    assert 5 <= len(PHOTOS) <= 7
    assert len(DIGITS) == 10


def test_nothing_in_the_folder_is_unlisted() -> None:
    on_disk = {
        p.relative_to(SAMPLES).as_posix()
        for p in SAMPLES.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert on_disk == {e["file"] for e in ENTRIES} | {"LICENSES.md", "samples.json"}


@pytest.mark.parametrize("entry", PHOTOS, ids=[e["file"] for e in PHOTOS])
def test_photo_is_a_real_colour_photograph(entry: dict) -> None:
    with Image.open(SAMPLES / entry["file"]) as image:
        assert image.format == "JPEG"
        assert image.mode == "RGB"
        assert min(image.size) >= 224 and max(image.size) <= 640
        pixels = np.asarray(image, dtype=np.float32)
    # A photograph has many distinct colours and real contrast, unlike a placeholder.
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 5000
    assert pixels.std() > 20


@pytest.mark.parametrize("entry", PHOTOS, ids=[e["file"] for e in PHOTOS])
def test_photo_expectations_are_imagenet_classes(entry: dict) -> None:
    expected = entry["expected_imagenet"]
    # A photo whose subject has no ImageNet class must say so instead of listing classes.
    assert expected or "no class" in entry.get("note", "")
    assert set(expected) <= CATEGORIES


@pytest.mark.parametrize("entry", DIGITS, ids=[e["file"] for e in DIGITS])
def test_digit_is_a_dark_on_light_square(entry: dict) -> None:
    match = re.fullmatch(r"digits/digit_(\d)\.png", entry["file"])
    assert match and int(match.group(1)) == entry["expected_label"]
    with Image.open(SAMPLES / entry["file"]) as image:
        assert image.format == "PNG"
        assert image.size == (64, 64)
        gray = np.asarray(image.convert("L"))
    # Dark ink on light paper: mostly bright, with some really dark strokes.
    assert gray.mean() > 140 and gray.min() < 60


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_every_file_has_credit_and_licence(entry: dict) -> None:
    for key in ("title", "credit", "licence", "source"):
        assert entry[key].strip(), key
    name = entry["file"]
    if entry["kind"] == "digit":
        assert "`digits/digit_<k>.png`" in LICENCES
    else:
        row = next(line for line in LICENCES.splitlines() if line.startswith(f"| `{name}` |"))
        assert entry["licence"].split(" (")[0] in row


def test_total_size_stays_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 1_500_000
