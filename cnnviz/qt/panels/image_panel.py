"""The original image beside the exact tensor the model sees."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSizeF, Qt
from PySide6.QtWidgets import QWidget

from cnnviz.qt.theme import NORMAL, Theme


def box_reduce(image: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """`image` (H, W[, C] uint8) shrunk by whole factors, each pixel the rounded mean of its
    fy×fx block (the edge rows and columns that fill no block are dropped)."""
    h, w = image.shape[0] // fy, image.shape[1] // fx
    blocks = image[: h * fy, : w * fx].astype(np.uint16)
    rows = blocks[0::fy].copy()
    for i in range(1, fy):
        rows += blocks[i::fy]
    total = rows[:, 0::fx].copy()
    for j in range(1, fx):
        total += rows[:, j::fx]
    count = fy * fx
    return ((total + count // 2) // count).astype(np.uint8)


class PictureItem(pg.ImageItem):
    """An ImageItem that shrinks a uint8 picture to screen resolution with whole-block sums.

    pyqtgraph's automatic downsampling takes a float64 mean per axis: about 4 ms of a
    450×300 photo for every new image, the largest part of the lab's repaint per slider
    tick; these integer sums take 0.4 ms. Other images (float maps with a colour lookup)
    keep pyqtgraph's own downsampling. The item's coordinates stay the full image's pixels.
    """

    # Block sums in uint16 hold up to 257 full-white pixels.
    _MAX_BLOCK = 257

    def render(self) -> None:
        image = self.image
        if not self.autoDownsample or image is None or image.dtype != np.uint8:
            super().render()
            return
        xds, yds = self._computeDownsampleFactors()
        if xds * yds > self._MAX_BLOCK or self.axisOrder != "row-major":
            super().render()
            return
        self.image = box_reduce(image, yds, xds) if xds * yds > 1 else image
        self.autoDownsample = False
        try:
            super().render()
        finally:
            self.image = image
            self.autoDownsample = True
        self._lastDownsample = (xds, yds)


class TitleItem(pg.LabelItem):
    """A title that may be narrower than its text.

    pyqtgraph's LabelItem makes itself at least as wide as its text, which widened the
    layout past a narrow view (the lab's picture column at 1024 pixels) and cut the picture
    off at the side; a long title is cut at its end instead.
    """

    def updateMin(self) -> None:  # noqa: N802 - pyqtgraph's name
        super().updateMin()
        self.setMinimumWidth(0)

    def resizeEvent(self, ev: object) -> None:  # noqa: N802 - Qt override
        # Centred while it fits; cut at the end, not at both sides, when it does not.
        self.setAttr("justify", "left" if self.itemRect().width() > self.width() else "center")
        super().resizeEvent(ev)

    def sizeHint(self, hint: Qt.SizeHint, constraint: QSizeF) -> QSizeF:  # noqa: N802
        size = super().sizeHint(hint, constraint)
        if hint == Qt.SizeHint.MinimumSize:
            size.setWidth(0)
        return size


class ImageView(pg.GraphicsLayoutWidget):
    """One image with a title, aspect locked, no axes: a picture, not a plot."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = title
        self.label = TitleItem(title)
        self.addItem(self.label, row=0, col=0)
        self.view = self.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMouse=False)
        self.view.setMenuEnabled(False)
        # Large montages are drawn at screen resolution, not pixel for pixel: the colour
        # lookup then runs on what is seen, which keeps the GUI thread responsive.
        self.image_item = PictureItem(axisOrder="row-major", autoDownsample=True)
        self.view.addItem(self.image_item)
        self.image: np.ndarray | None = None
        self.caption = ""
        self._theme = NORMAL
        self.setMinimumSize(160, 160)
        # A locked aspect keeps the shown range's height when the view narrows, which cut
        # pictures off at the side once the docks settled: refit whenever the view resizes.
        self.view.sigResized.connect(self._refit)

    def _refit(self, *_args: object) -> None:
        if self.image is not None:
            self.view.autoRange(padding=0.01)

    def set_image(self, image: np.ndarray | None, caption: str = "") -> None:
        # A live update often brings the very same picture (the lab's original): then
        # nothing is redrawn. The view is refitted only when the picture's size changes.
        if image is not self.image:
            previous = self.image
            self.image = image
            if image is None:
                self.image_item.clear()
            else:
                self.image_item.setImage(image, levels=(0, 255), autoLevels=False)
                if previous is None or previous.shape[:2] != image.shape[:2]:
                    self._refit()
        if caption != self.caption:
            self.caption = caption
            self._draw_label()

    def _draw_label(self) -> None:
        size = 11 * min(self._theme.font_scale, 1.4)
        text = f"<b>{self._title}</b>"
        if self.caption:
            text += f"<br><span style='font-size:{size * 0.85:.0f}pt'>{self.caption}</span>"
        self.label.setText(text, size=f"{size:.0f}pt", color=self._theme.foreground)

    def apply_theme(self, theme: Theme) -> None:
        self.setBackground(theme.background)
        self._theme = theme
        self._draw_label()


class ImagePanel(QWidget):
    """Original and model input side by side."""

    def __init__(self, parent: QWidget | None = None) -> None:
        from PySide6.QtWidgets import QHBoxLayout

        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.original = ImageView("Original image")
        self.model_input = ImageView("What the model sees")
        layout.addWidget(self.original, 1)
        layout.addWidget(self.model_input, 1)

    def show_images(
        self,
        original: np.ndarray | None,
        model_input: np.ndarray | None,
        original_caption: str = "",
        input_caption: str = "",
    ) -> None:
        self.original.set_image(original, original_caption)
        self.model_input.set_image(model_input, input_caption)

    def apply_theme(self, theme: Theme) -> None:
        self.original.apply_theme(theme)
        self.model_input.apply_theme(theme)
