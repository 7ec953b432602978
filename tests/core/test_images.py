"""Image loading: every odd input becomes RGB or one clear ImageLoadError."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cnnviz.core.images import MAX_PIXELS, ImageLoadError, load_image


def _save(image: Image.Image, path, fmt: str, **kw) -> str:
    image.save(path, fmt, **kw)
    return str(path)


def _gradient(mode="RGB", size=(40, 30)) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(
        mode
    )


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGB", "1", "YCbCr"])
def test_common_modes_become_rgb(tmp_path, mode):
    fmt = "JPEG" if mode in ("CMYK", "YCbCr") else "PNG"
    path = _save(_gradient(mode), tmp_path / f"x.{fmt.lower()}", fmt)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (40, 30)


def test_rgba_is_composited_on_white(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    image = load_image(_save(rgba, tmp_path / "a.png", "PNG"))
    assert image.getpixel((1, 1)) == (255, 255, 255)
    assert image.getpixel((0, 0)) == (0, 0, 255)


def test_palette_with_transparency(tmp_path):
    p = Image.new("P", (3, 3), 0)
    p.putpalette([0, 255, 0] + [9, 9, 9] * 255)
    p.info["transparency"] = 0
    assert load_image(_save(p, tmp_path / "p.png", "PNG", transparency=0)).getpixel((1, 1)) == (
        255,
        255,
        255,
    )


def test_sixteen_bit_grey_is_rescaled_not_clipped(tmp_path):
    values = np.array([[0, 16384], [32768, 65535]], dtype=np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "g16.png", "PNG")
    pixels = np.asarray(load_image(path))[:, :, 0]
    expected = np.round(values.astype(np.float64) * 255 / 65535).astype(np.uint8)
    assert np.array_equal(pixels, expected)


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert load_image(path).getpixel((4, 4)) == (255, 0, 0)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (60, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 10, 20))  # white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    path = _save(image, tmp_path / "rot.jpg", "JPEG", exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.size == (20, 60)
    top_row = np.asarray(loaded)[:5].mean()
    bottom_row = np.asarray(loaded)[-5:].mean()
    assert top_row > 200 > 50 > bottom_row


def test_encoded_bytes_load(tmp_path):
    buffer = io.BytesIO()
    _gradient().save(buffer, "PNG")
    assert load_image(buffer.getvalue()).size == (40, 30)


def test_truncated_jpeg_is_a_clear_error(tmp_path):
    full = tmp_path / "full.jpg"
    _gradient(size=(200, 200)).save(full, "JPEG")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[:800])
    with pytest.raises(ImageLoadError, match="cut.jpg: damaged or truncated"):
        load_image(cut)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, not a picture")
    with pytest.raises(ImageLoadError, match="notes.txt: not an image"):
        load_image(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="is a folder"):
        load_image(tmp_path)


def test_huge_image_is_refused_before_decoding(tmp_path):
    side = int(MAX_PIXELS**0.5) + 100
    path = _save(Image.new("1", (side, side)), tmp_path / "bomb.png", "PNG")
    assert (tmp_path / "bomb.png").stat().st_size < 2_000_000
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(path)
