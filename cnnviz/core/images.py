"""Loading any image a user might pick into a plain 8-bit RGB Pillow image.

Three checks come before any pixel is decoded: the path must be a regular file (a FIFO would
block forever, a device could be endless), the content must be one of the pure raster formats
in RASTER_FORMATS (Pillow hands EPS/PostScript to Ghostscript, an external program, whatever
the file's extension), and the size must fit the pixel budget (MAX_PIXELS, MAX_ASPECT_RATIO).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from typing import BinaryIO, TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnviz.core.errors import UserError
from cnnviz.core.files import mode_problem, os_error_problem, path_problem

T = TypeVar("T")

# Decoded in-process by Pillow's own or bundled libraries; none starts another program.
# Never EPS/PS or PDF (Ghostscript), nor WMF/EMF (a Windows renderer) or any other plugin.
RASTER_FORMATS = (
    "JPEG",
    "PNG",
    "GIF",
    "WEBP",
    "BMP",
    "DIB",
    "TIFF",
    "ICO",
    "PPM",
    "TGA",
    "QOI",
    "PCX",
    "SGI",
    "JPEG2000",
    "AVIF",
)
# File name endings of those formats, for open dialogs.
IMAGE_EXTENSIONS = (
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".ico", ".ppm",
    ".pgm", ".tga", ".qoi", ".pcx", ".sgi", ".jp2", ".avif",
)  # fmt: skip
ACCEPTED = "JPEG, PNG, GIF, WebP, BMP, TIFF, ICO, PPM/PGM, TGA, QOI, PCX, SGI, JPEG 2000, AVIF"

# Decoded images are shown scaled down to at most this many pixels on their longest side.
DISPLAY_MAX_SIDE = 1024
# Well above any photo a user loads, well below what would exhaust memory.
MAX_PIXELS = 64_000_000
# Every model keeps the aspect ratio when it resizes the short side (to at most 342 px, for
# inception_v3; LeNet squashes to 32x32), so the long side grows with the aspect ratio: a
# 475-byte 1x100000 PNG became a 256 x 25.6-million-pixel tensor, 13 GB before it was stopped.
# At 32:1 the resized image stays under 342 x 10944 px (45 MB as float32), and 32:1 is
# already longer than any panorama a classifier could make sense of.
MAX_ASPECT_RATIO = 32

# Formats Pillow could identify but cnnviz refuses, named so the user learns why.
_REFUSED_SIGNATURES = (
    (b"%!PS", "PostScript (EPS/PS)"),
    (b"\xc5\xd0\xd3\xc6", "PostScript (EPS)"),
    (b"%PDF", "PDF"),
)


class ImageLoadError(UserError):
    """An image that cannot be used, with a message meant for the user."""


def _label(source: str | os.PathLike[str] | bytes) -> str:
    return "pasted image" if isinstance(source, bytes) else os.path.basename(os.fspath(source))


def _allowed_formats() -> list[str]:
    Image.init()  # registers every plugin; Image.open raises KeyError for an unknown name
    return [name for name in RASTER_FORMATS if name in Image.OPEN]


def open_regular_file(path: str | os.PathLike[str]) -> BinaryIO:
    """`path` opened for reading if it is a regular file (symlinks followed); else ImageLoadError.

    The type is checked before opening, since opening a FIFO blocks until a writer comes, and
    again on the open descriptor (opened non-blocking), in case the path changed in between.
    """
    path = os.fspath(path)
    label = os.path.basename(path)
    problem = path_problem(path, "an image")
    if problem is not None:
        raise ImageLoadError(f"{label}: {problem}")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise ImageLoadError(f"{label}: {os_error_problem(exc, path)}") from exc
    problem = mode_problem(os.fstat(fd).st_mode, "an image")
    if problem is not None:
        os.close(fd)
        raise ImageLoadError(f"{label}: {problem}")
    return os.fdopen(fd, "rb")


def _open_raster(fp: BinaryIO, label: str) -> Image.Image:
    """Identify `fp` with the raster plugins only, and check its size; decodes no pixels."""
    try:
        image = Image.open(fp, formats=_allowed_formats())
    except UnidentifiedImageError as exc:
        fp.seek(0)
        head = fp.read(16)
        for signature, kind in _REFUSED_SIGNATURES:
            if head.startswith(signature):
                raise ImageLoadError(
                    f"{label}: is {kind}, not a raster image; cnnviz never opens it, since "
                    "decoding it would run Ghostscript"
                ) from exc
        raise ImageLoadError(
            f"{label}: not an image in a format cnnviz reads ({ACCEPTED})"
        ) from exc
    _check_size(image, label)
    return image


def check_image_file(path: str | os.PathLike[str]) -> None:
    """ImageLoadError unless `path` is a regular file with a raster image of a usable size.

    Cheap: reads the header only, so an entry point can refuse a bad path before it starts.
    """
    label = _label(path)
    with open_regular_file(path) as fp:
        _guarded(lambda: _open_raster(fp, label), label)


def load_image(source: str | os.PathLike[str] | bytes) -> Image.Image:
    """Open a path or encoded bytes as RGB: EXIF-rotated, first frame, alpha on white."""
    label = _label(source)
    fp = io.BytesIO(source) if isinstance(source, bytes) else open_regular_file(source)
    with fp:
        return _guarded(lambda: _decode(fp, label), label)


def _decode(fp: BinaryIO, label: str) -> Image.Image:
    image = _open_raster(fp, label)
    image.seek(0)  # animated GIF/WebP/APNG: the first frame
    image.load()
    return to_rgb(ImageOps.exif_transpose(image))


def _guarded(work: Callable[[], T], label: str) -> T:
    """Run `work`, turning Pillow's and the decoders' exceptions into ImageLoadError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return work()
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(f"{label}: image is too large to load safely") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImageLoadError(f"{label}: damaged or truncated image ({detail[:120]})") from exc


def _check_size(image: Image.Image, label: str) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageLoadError(f"{label}: image has no pixels")
    if width * height > MAX_PIXELS:
        raise ImageLoadError(
            f"{label}: {width}x{height} is too large "
            f"(more than {MAX_PIXELS // 1_000_000} megapixels)"
        )
    long_side, short_side = max(width, height), min(width, height)
    if long_side > MAX_ASPECT_RATIO * short_side:
        raise ImageLoadError(
            f"{label}: {width}x{height} is too elongated for a model (aspect ratio "
            f"{long_side / short_side:.0f}:1, at most {MAX_ASPECT_RATIO}:1); crop it first"
        )


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB; high-bit-depth greys are rescaled, not clipped."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        grey = Image.fromarray(((values - low) * scale).round().astype(np.uint8), mode="L")
        return grey.convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
