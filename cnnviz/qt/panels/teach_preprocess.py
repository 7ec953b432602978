"""The preprocessing strip: original → resized → centre-crop box → crop → normalised tensor."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QGraphicsRectItem, QHBoxLayout, QVBoxLayout, QWidget

from cnnviz.qt.panels.image_panel import ImageView
from cnnviz.qt.panels.teach_common import ThemedPlot, draw_histograms, note
from cnnviz.qt.theme import NORMAL, Theme

if TYPE_CHECKING:
    from cnnviz.core.teach.preprocess import PreprocessStrip

CHANNELS = ("R", "G", "B")


def tensor_picture(tensor: np.ndarray) -> np.ndarray:
    """A normalised (3, H, W) tensor as a picture: each channel stretched to 0..255."""
    low = tensor.min(axis=(1, 2), keepdims=True)
    high = tensor.max(axis=(1, 2), keepdims=True)
    scaled = (tensor - low) / np.maximum(high - low, 1e-12) * 255.0
    return np.ascontiguousarray(scaled.round().astype(np.uint8).transpose(1, 2, 0))


class PreprocessPanel(QWidget):
    """Four pictures in a row and the per-channel histograms before/after normalising."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.strip: PreprocessStrip | None = None
        self._theme = NORMAL
        self.views = [
            ImageView("1. Original"),
            ImageView("2. Resized"),
            ImageView("3. Centre crop"),
            ImageView("4. Normalised tensor"),
        ]
        self.box = QGraphicsRectItem()
        self.views[1].view.addItem(self.box)
        row = QHBoxLayout()
        for view in self.views:
            row.addWidget(view)
        self.text = note("")
        self.before = ThemedPlot("Pixels in [0, 1] before normalising")
        self.after = ThemedPlot("After (x − mean) / std")
        plots = QHBoxLayout()
        plots.addWidget(self.before)
        plots.addWidget(self.after)
        layout = QVBoxLayout(self)
        layout.addLayout(row, 2)
        layout.addWidget(self.text)
        layout.addLayout(plots, 1)

    def show_strip(self, strip: PreprocessStrip) -> None:
        self.strip = strip
        lines = strip.describe()
        (h0, w0), (h1, w1) = strip.original.shape[:2], strip.resized.shape[:2]
        top, left, ch, cw = strip.crop_box
        self.views[0].set_image(strip.original, f"{w0}×{h0}")
        self.views[1].set_image(strip.resized, f"{w1}×{h1}, {strip.interpolation}")
        self.box.setRect(QRectF(left, top, cw, ch))
        self._style_box()
        self.views[2].set_image(strip.cropped, f"{cw}×{ch} at x={left}, y={top}")
        self.views[3].set_image(tensor_picture(strip.tensor), "each channel stretched for display")
        after = strip.after
        self.text.setText(
            " → ".join(lines)
            + ". After normalising, channel means "
            + ", ".join(f"{m:+.2f}" for m in after.mean)
            + " and stds "
            + ", ".join(f"{s:.2f}" for s in after.std)
            + "."
        )
        draw_histograms(self.before, strip.before.edges, strip.before.counts, CHANNELS)
        draw_histograms(self.after, strip.after.edges, strip.after.counts, CHANNELS)

    def _style_box(self) -> None:
        pen = QPen(self._theme.marker)
        pen.setWidthF(max(2.0, (self.strip.resized.shape[1] if self.strip else 256) / 120))
        self.box.setPen(pen)

    def show_error(self, message: str) -> None:
        self.text.setText(f"No preprocessing strip: {message}")

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        for view in self.views:
            view.apply_theme(theme)
        self.before.apply_theme(theme)
        self.after.apply_theme(theme)
        self._style_box()
        if self.strip is not None:
            self.show_strip(self.strip)
