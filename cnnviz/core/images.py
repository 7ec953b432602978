"""Loading any image a user might pick into a plain 8-bit RGB Pillow image."""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnviz.core.errors import UserError

# Decoded images are shown scaled down to at most this many pixels on their longest side.
DISPLAY_MAX_SIDE = 1024
# Well above any photo a user loads, well below what would exhaust memory.
MAX_PIXELS = 64_000_000


class ImageLoadError(UserError):
    """An image that cannot be used, with a message meant for the user."""


def load_image(source: str | os.PathLike[str] | bytes) -> Image.Image:
    """Open a path or encoded bytes as RGB: EXIF-rotated, first frame, alpha on white."""
    label = "pasted image" if isinstance(source, bytes) else os.path.basename(os.fspath(source))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            _check_size(image, label)
            image.seek(0)  # animated GIF/WebP/APNG: the first frame
            image.load()
            image = ImageOps.exif_transpose(image)
            return to_rgb(image)
    except ImageLoadError:
        raise
    except FileNotFoundError as exc:
        raise ImageLoadError(f"{label}: file not found") from exc
    except IsADirectoryError as exc:
        raise ImageLoadError(f"{label}: is a folder, not an image") from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(f"{label}: not an image file Pillow can read") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(f"{label}: image is too large to load safely") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImageLoadError(f"{label}: damaged or truncated image ({detail})") from exc


def _check_size(image: Image.Image, label: str) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageLoadError(f"{label}: image has no pixels")
    if width * height > MAX_PIXELS:
        raise ImageLoadError(
            f"{label}: {width}x{height} is too large "
            f"(more than {MAX_PIXELS // 1_000_000} megapixels)"
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
