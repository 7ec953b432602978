"""Images handed over by the clipboard or a drop: file paths, or pixels encoded as PNG."""

from __future__ import annotations

import os

from PySide6.QtCore import QBuffer, QIODevice, QMimeData
from PySide6.QtGui import QImage

ImageSource = tuple[str | bytes, str]  # (path or encoded bytes, name to show)


def source_from_mime(mime: QMimeData | None, image: QImage | None = None) -> ImageSource | None:
    """The first local file in `mime`, else its image (or `image`) as PNG bytes."""
    if mime is not None and mime.hasUrls():
        files = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
        if files:
            return files[0], os.path.basename(files[0])
    if (image is None or image.isNull()) and mime is not None and mime.hasImage():
        image = QImage(mime.imageData())
    if image is None or image.isNull():
        return None
    return png_bytes(image), "pasted image"


def accepts(mime: QMimeData) -> bool:
    return (mime.hasUrls() and any(u.isLocalFile() for u in mime.urls())) or mime.hasImage()


def png_bytes(image: QImage) -> bytes:
    buffer = QBuffer()
    buffer.open(QIODevice.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data())


def image_file_filter() -> str:
    """The open dialog's filter: every raster format cnnviz reads, then all files."""
    from cnnviz.core.images import IMAGE_EXTENSIONS

    return f"Images ({' '.join('*' + e for e in IMAGE_EXTENSIONS)});;All files (*)"
