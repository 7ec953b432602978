"""A zoomable picture of a 2D array in a colormap, reporting clicks and hovers in pixels."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, QTimer, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QFileDialog, QGraphicsRectItem, QWidget

from cnnviz.qt.panels.image_panel import ImageView


class MapView(ImageView):
    """One float image drawn through a lookup table; NaN pixels are transparent.

    Mouse wheel zooms and dragging pans; a click emits sigPixelClicked(row, col) and
    moving over the image emits sigPixelHovered(row, col) ((-1, -1) off the image).
    """

    sigPixelClicked = Signal(int, int)
    sigPixelHovered = Signal(int, int)

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.view.setMouseEnabled(True, True)
        self.colormap = "viridis"
        self.levels: tuple[float, float] = (0.0, 1.0)
        self.marks: list[QGraphicsRectItem] = []
        self._fit: tuple[int, float] | None = None
        self.view.sigRangeChangedManually.connect(self._user_moved)
        self.scene().sigMouseClicked.connect(self._on_click)
        self.scene().sigMouseMoved.connect(self._on_move)
        self.setMinimumSize(120, 120)

    def show_array(
        self,
        array: np.ndarray | None,
        *,
        colormap: str | None = None,
        levels: tuple[float, float] | None = None,
        caption: str = "",
        keep_view: bool = False,
    ) -> None:
        """Draw a 2D float array (or (H, W, 3|4) uint8 colours); None clears."""
        from cnnviz.core.inspect.colormaps import lookup_table

        self.image = array
        self.caption = caption
        self._draw_label()
        if array is None:
            self.image_item.clear()
            return
        if colormap is not None:
            self.colormap = colormap
        if array.ndim == 2:
            self.levels = levels if levels is not None else self.levels
            self.image_item.setLookupTable(lookup_table(self.colormap))
            self.image_item.setImage(array, levels=self.levels, autoLevels=False)
        else:
            self.image_item.setLookupTable(None)
            self.image_item.setImage(array, levels=(0, 255), autoLevels=False)
        if not keep_view:
            self._fit = None
            self.view.autoRange(padding=0.01)

    def fit_readable(self, cell_px: int, min_screen_px: float = 10.0) -> None:
        """Zoom so cells of `cell_px` image pixels get `min_screen_px` on screen, if the full
        width still fits; a tall image then shows its top part, scrollable by dragging.

        The fit is redone on every resize (a hidden tab gets its size late) until the
        user zooms or pans.
        """
        self._fit = (cell_px, min_screen_px)
        self._refit()

    def _refit(self) -> None:
        if self._fit is None or self.image is None:
            return
        cell_px, min_screen_px = self._fit
        height, width = self.image.shape[:2]
        box = self.view.boundingRect()
        fit = min(box.width() / width, box.height() / height)
        scale = min(max(fit, min_screen_px / max(cell_px, 1)), box.width() / width)
        if not self.isVisible() or min(box.width(), box.height()) <= 1 or scale <= fit * 1.01:
            self.view.autoRange(padding=0.01)
        else:
            visible_w, visible_h = box.width() / scale, box.height() / scale
            # Top of the image, centred across.
            left = -(visible_w - width) / 2
            self.view.setRange(QRectF(left, 0, visible_w, visible_h), padding=0)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        # pyqtgraph resizes once inside GraphicsView.__init__, before our attributes exist.
        if getattr(self, "_fit", None) is not None:
            # After the layout has given the view box its new size.
            QTimer.singleShot(0, self._refit)

    def _user_moved(self, *_args: object) -> None:
        self._fit = None

    def set_title(self, title: str) -> None:
        """Replace the bold first line of the label."""
        self._title = title
        self._draw_label()

    def set_colormap(self, name: str) -> None:
        """Recolour the current 2D array without touching the data."""
        from cnnviz.core.inspect.colormaps import lookup_table

        self.colormap = name
        if self.image is not None and self.image.ndim == 2:
            self.image_item.setLookupTable(lookup_table(name))

    # --- marks ----------------------------------------------------------------------
    def mark(self, x: float, y: float, w: float, h: float, *, colour: str) -> None:
        """Outline the pixel rectangle (x, y, w, h), replacing any earlier mark."""
        self.clear_marks()
        rect = QGraphicsRectItem(QRectF(x, y, w, h))
        pen = QPen(QColor(colour))
        pen.setCosmetic(True)
        pen.setWidthF(2.5)
        rect.setPen(pen)
        rect.setZValue(10)
        self.view.addItem(rect)
        self.marks.append(rect)

    def clear_marks(self) -> None:
        """Remove every mark."""
        for rect in self.marks:
            self.view.removeItem(rect)
        self.marks = []

    # --- mouse ----------------------------------------------------------------------
    def pixel_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        """(row, col) of the image pixel under a scene position, or None off the image."""
        if self.image is None:
            return None
        point = self.image_item.mapFromScene(scene_pos)
        row, col = int(np.floor(point.y())), int(np.floor(point.x()))
        height, width = self.image.shape[:2]
        if 0 <= row < height and 0 <= col < width:
            return row, col
        return None

    def scene_pos_of(self, row: int, col: int) -> QPointF:
        """The scene position of the centre of pixel (row, col) (for tests and overlays)."""
        return self.image_item.mapToScene(QPointF(col + 0.5, row + 0.5))

    def _on_click(self, event) -> None:
        if event.button() != pg.QtCore.Qt.LeftButton or event.double():
            return
        hit = self.pixel_at(event.scenePos())
        if hit is not None:
            self.sigPixelClicked.emit(*hit)

    def _on_move(self, scene_pos: QPointF) -> None:
        hit = self.pixel_at(scene_pos)
        self.sigPixelHovered.emit(*(hit if hit is not None else (-1, -1)))


def ask_save_path(parent: QWidget, title: str, name: str, pattern: str) -> str:
    """A file name from a save dialog ("" when cancelled)."""
    path, _ = QFileDialog.getSaveFileName(parent, title, name, pattern)
    return path
