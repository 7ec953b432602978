"""Hostile image files (issue 13, failures 1-3): generated here, refused before any decoding."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import EpsImagePlugin, Image, ImageFile

from cnnviz.core.augment.pipeline import AugmentPipeline, build_pipeline
from cnnviz.core.augment.spec import SpecError, parse_spec
from cnnviz.core.images import (
    MAX_ASPECT_RATIO,
    ImageLoadError,
    check_image_file,
    load_image,
)

LOADERS = pytest.mark.parametrize("loader", [load_image, check_image_file])

# Real PostScript: Ghostscript would run it and create the marker file; cnnviz must not.
POSTSCRIPT = """%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 16 16
({marker}) (w) file closefile
newpath 0 0 moveto 16 16 lineto stroke
showpage
"""


@pytest.fixture
def ghostscript_spy(tmp_path, monkeypatch):
    """A fake `gs` first on PATH that leaves a marker when started, and a spy on the EPS plugin."""
    marker = tmp_path / "ghostscript-ran"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "gs"
    fake.write_text(f"#!/bin/sh\ntouch '{marker}'\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # look for gs again
    opened = []
    original = EpsImagePlugin.EpsImageFile._open

    def spy(self):
        opened.append(self)
        return original(self)

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", spy)
    return marker, opened


@pytest.mark.skipif(os.name != "posix", reason="the fake Ghostscript is a shell script")
@LOADERS
def test_postscript_named_png_is_refused_and_ghostscript_never_starts(
    tmp_path, ghostscript_spy, loader
):
    marker, opened = ghostscript_spy
    path = tmp_path / "holiday.png"
    path.write_text(POSTSCRIPT.format(marker=tmp_path / "postscript-ran"))
    with pytest.raises(ImageLoadError) as info:
        loader(path)
    message = str(info.value)
    assert message.startswith("holiday.png: is PostScript")
    assert "Ghostscript" in message and "\n" not in message
    assert not marker.exists() and not (tmp_path / "postscript-ran").exists()
    assert opened == []  # Pillow's EPS plugin never even parsed the header


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("scan.jpg", b"\xc5\xd0\xd3\xc6" + bytes(28), "PostScript (EPS)"),
        ("page.png", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "PDF"),
    ],
)
def test_other_refused_formats_are_named(tmp_path, name, content, kind):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    assert str(info.value).startswith(f"{name}: is {kind}, not a raster image")


def _png_of(size: tuple[int, int], path: Path) -> Path:
    Image.new("1", size).save(path, "PNG", optimize=True)
    return path


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any pixel data is decoded."""

    def refuse(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@LOADERS
def test_extreme_aspect_ratios_are_refused_before_decoding(tmp_path, no_decoding, loader):
    tall = _png_of((1, 100_000), tmp_path / "tall.png")
    assert tall.stat().st_size < 1000  # a few hundred bytes that would become gigabytes
    with pytest.raises(ImageLoadError, match=r"^tall.png: 1x100000 is too elongated") as info:
        loader(tall)
    assert "100000:1" in str(info.value) and f"at most {MAX_ASPECT_RATIO}:1" in str(info.value)


def test_wide_jpeg_is_refused(tmp_path):
    wide = tmp_path / "wide.jpg"
    Image.new("RGB", (65_500, 2), "white").save(wide, "JPEG")
    with pytest.raises(ImageLoadError, match=r"65500x2 is too elongated.*32750:1"):
        load_image(wide)


def test_the_aspect_bound_is_inclusive(tmp_path):
    # 32:1 is the largest accepted ratio; one pixel more is refused.
    assert load_image(_png_of((2 * MAX_ASPECT_RATIO, 2), tmp_path / "ok.png")).size == (64, 2)
    with pytest.raises(ImageLoadError, match="too elongated"):
        load_image(_png_of((2 * MAX_ASPECT_RATIO + 1, 2), tmp_path / "over.png"))


def test_random_resized_crop_never_sees_an_elongated_image(tmp_path, monkeypatch):
    pipeline = build_pipeline(parse_spec("RandomResizedCrop(size=[224, 224])"))
    seen = []
    monkeypatch.setattr(AugmentPipeline, "apply", lambda self, image, **kw: seen.append(image))
    with pytest.raises(ImageLoadError, match="too elongated"):
        pipeline.apply(load_image(_png_of((100_000, 1), tmp_path / "strip.png")), seed=0)
    assert seen == []


def test_random_resized_crop_works_at_the_aspect_bound(tmp_path):
    path = tmp_path / "banner.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (8, 8 * MAX_ASPECT_RATIO, 3), dtype=np.uint8)).save(path)
    outcome = build_pipeline(parse_spec("RandomResizedCrop(size=[224, 224])")).apply(
        load_image(path), seed=3
    )
    assert tuple(outcome.image.shape) == (3, 224, 224)


def _call_within(seconds: float, fn, unblock):
    """fn()'s result or exception; fails (after unblocking fn) if it takes longer than `seconds`."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the test below
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        unblock()
        thread.join(5)
        pytest.fail(f"blocked for more than {seconds} s")
    return box


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@LOADERS
def test_fifo_is_refused_without_blocking(tmp_path, loader):
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)

    def unblock() -> None:  # a writer that closes at once lets a blocked reader see EOF
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    box = _call_within(5, lambda: loader(fifo), unblock)
    assert isinstance(box.get("error"), ImageLoadError)
    assert str(box["error"]) == "photo.jpg: is a named pipe (FIFO), not an image"


@pytest.mark.skipif(os.name != "posix", reason="symbolic links and /dev/null")
@LOADERS
def test_each_kind_of_bad_path_has_its_own_message(tmp_path, loader):
    (tmp_path / "loop_a.png").symlink_to(tmp_path / "loop_b.png")
    (tmp_path / "loop_b.png").symlink_to(tmp_path / "loop_a.png")
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    (tmp_path / "album.jpg").mkdir()
    expected = {
        tmp_path / "loop_a.png": "loop_a.png: symbolic link loop (the link leads back to itself)",
        tmp_path / "dangling.png": "dangling.png: broken symbolic link (its target does not exist)",
        tmp_path / "missing.png": "missing.png: file not found",
        tmp_path / "album.jpg": "album.jpg: is a folder, not an image",
        Path("/dev/null"): "null: is a device, not an image",
    }
    for path, message in expected.items():
        with pytest.raises(ImageLoadError) as info:
            loader(path)
        assert str(info.value) == message


def test_check_image_file_accepts_a_real_photo(samples_dir, no_decoding):
    assert check_image_file(samples_dir / "cat.jpg") is None  # and decoded nothing


def test_an_augmentation_cannot_make_an_elongated_image(samples_dir):
    # The spec is valid (sizes up to 4096), but the model's resize would make it 256 x 1048576.
    pipeline = build_pipeline(parse_spec("Resize(size=[1, 4096])"))
    with pytest.raises(SpecError, match=r"the augmented image is 4096x1, too elongated"):
        pipeline.apply(load_image(samples_dir / "cat.jpg"), seed=0)
    wide = build_pipeline(parse_spec("Resize(size=[64, 2048])")).apply(
        Image.new("RGB", (9, 9)), seed=0
    )
    assert tuple(wide.image.shape) == (3, 64, 2048)  # 32:1 is still accepted
