"""Reading a picture in a test without leaving its file open (ResourceWarnings fail tests)."""

from __future__ import annotations

import os

from PIL import Image


def opened(path: str | os.PathLike[str]) -> Image.Image:
    """The image at `path`, fully read, its file closed."""
    with Image.open(path) as image:
        return image.copy()
