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
    from cnnviz.core.teach.requests import StripOutcome

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
        # The lab's random crops, drawn on the original (shown only when the lab crops).
        self.lab_view = ImageView("0. Lab crop on the original")
        self.lab_boxes: list[QGraphicsRectItem] = []
        self.lab_view.hide()
        self.outcome: StripOutcome | None = None
        row = QHBoxLayout()
        row.addWidget(self.lab_view)
        for view in self.views:
            row.addWidget(view)
        self.text = note("")
        self.text.setMinimumHeight(self.text.fontMetrics().lineSpacing() * 2 + 4)
        self.before = ThemedPlot("Pixels in [0, 1] before normalising")
        self.after = ThemedPlot("After (x − mean) / std")
        plots = QHBoxLayout()
        plots.addWidget(self.before)
        plots.addWidget(self.after)
        layout = QVBoxLayout(self)
        layout.addLayout(row, 2)
        layout.addWidget(self.text)
        layout.addLayout(plots, 1)

    def show_outcome(self, outcome: StripOutcome) -> None:
        """The strip, and the lab's crop boxes on the original when it has any."""
        self.outcome = outcome
        for item in self.lab_boxes:
            self.lab_view.view.removeItem(item)
        self.lab_boxes = []
        first = self.views[0]
        first._title = "1. After the lab" if outcome.augmented else "1. Original"
        if outcome.lab_crops and outcome.original is not None:
            self.lab_view.show()  # before the image: a hidden view cannot fit it
            h, w = outcome.original.shape[:2]
            self.lab_view.set_image(outcome.original, f"{w}×{h}, the crop boxed")
            for b in outcome.lab_crops:
                if b.on_original:
                    item = QGraphicsRectItem(QRectF(b.left, b.top, b.width, b.height))
                    item.setPen(self._pen(outcome.original.shape[1]))
                    self.lab_view.view.addItem(item)
                    self.lab_boxes.append(item)
        else:
            self.lab_view.hide()
        self.show_strip(outcome.strip)
        if outcome.lab_crops:
            crops = "; ".join(b.describe() for b in outcome.lab_crops)
            self.text.setText(f"Lab: {crops}. Then: {self.text.text()}")

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

    def _pen(self, image_width: int) -> QPen:
        pen = QPen(self._theme.marker)
        pen.setWidthF(max(2.0, image_width / 120))
        return pen

    def _style_box(self) -> None:
        self.box.setPen(self._pen(self.strip.resized.shape[1] if self.strip else 256))

    def show_error(self, message: str) -> None:
        self.text.setText(f"No preprocessing strip: {message}")

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        for view in (self.lab_view, *self.views):
            view.apply_theme(theme)
        self.text.setMinimumHeight(self.text.fontMetrics().lineSpacing() * 2 + 4)
        self.before.apply_theme(theme)
        self.after.apply_theme(theme)
        self._style_box()
        if self.strip is not None:
            self.show_strip(self.strip)
