"""Pictures and the top-5 chart drawn for a live update: what is on screen, and what is redone."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from cnnviz.qt.panels.image_panel import ImageView, box_reduce
from cnnviz.qt.panels.predictions import PredictionsPanel, Row


@pytest.fixture
def photo() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (301, 452, 3), dtype=np.uint8)


def test_box_reduce_is_the_rounded_block_mean(photo):
    for fy, fx in [(2, 2), (3, 3), (2, 3), (4, 1)]:
        h, w = photo.shape[0] // fy, photo.shape[1] // fx
        reduced = box_reduce(photo, fy, fx)
        blocks = photo[: h * fy, : w * fx].astype(np.float64).reshape(h, fy, w, fx, 3)
        mean = blocks.mean(axis=(1, 3))
        assert reduced.shape == (h, w, 3) and reduced.dtype == np.uint8
        assert np.abs(reduced - mean).max() <= 0.5 + 1e-9
    # Pillow's own 2x2 box reduction agrees exactly.
    pillow = np.asarray(Image.fromarray(photo[:300, :452]).reduce(2))
    np.testing.assert_array_equal(box_reduce(photo, 2, 2), pillow)


def _shown_view(qtbot, size: tuple[int, int]) -> ImageView:
    view = ImageView("Augmented image")
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_a_large_picture_is_drawn_from_its_block_means_in_full_image_coordinates(qtbot, photo):
    view = _shown_view(qtbot, (200, 200))
    view.set_image(photo)
    QApplication.processEvents()
    view.grab()  # paint: the item renders what is drawn
    item = view.image_item
    xds, yds = item._lastDownsample
    assert xds >= 2 and yds >= 2  # drawn at about screen resolution, not pixel for pixel
    expected = box_reduce(photo, yds, xds)
    assert (item.qimage.width(), item.qimage.height()) == (expected.shape[1], expected.shape[0])
    drawn = item.qimage.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(drawn.constBits(), np.uint8).reshape(drawn.height(), -1)
    channels = rows[:, : 3 * drawn.width()].reshape(drawn.height(), drawn.width(), 3)
    np.testing.assert_array_equal(channels, expected)
    # Coordinates stay those of the full picture: its far corner maps to the far corner.
    corner = item.mapToScene(QPointF(photo.shape[1], photo.shape[0]))
    assert item.mapFromScene(corner).x() == pytest.approx(photo.shape[1])
    assert item.boundingRect().width() == photo.shape[1]


def test_the_same_picture_again_is_not_redrawn(qtbot, photo):
    view = _shown_view(qtbot, (300, 300))
    renders = []
    original = view.image_item.render
    view.image_item.render = lambda: (renders.append(1), original())[1]
    view.set_image(photo, "caption")
    view.grab()
    assert len(renders) == 1
    view.set_image(photo, "caption")  # a lab update with the same original
    view.grab()
    assert len(renders) == 1
    view.set_image(photo.copy(), "caption")  # new pixels: drawn again
    view.grab()
    assert len(renders) == 2


def _bar_labels(panel: PredictionsPanel) -> list[str]:
    return [t.toPlainText() for t in panel._texts if t.isVisible()]


def test_top5_value_labels_are_moved_not_remade(qtbot):
    panel = PredictionsPanel()
    qtbot.addWidget(panel)
    panel.show()
    rows = [Row(i + 1, f"class {i}", p) for i, p in enumerate([0.7, 0.1, 0.05, 0.02, 0.01])]
    panel.show_rows(rows)
    items = list(panel._texts)
    assert _bar_labels(panel) == ["70.0%", "10.0%", "5.0%", "2.0%", "1.0%"]
    panel.show_rows([Row(1, "a", 0.5), Row(2, "b", 0.25), Row(3, "c", 0.125)])
    assert panel._texts == items  # the same five items
    assert _bar_labels(panel) == ["50.0%", "25.0%", "12.5%"]
    in_plot = [i for i in panel.plot.getPlotItem().items if i in items]
    assert len(in_plot) == 5
    # A label sits just past its bar's end (inside it, right-aligned, for a long bar).
    assert panel._texts[0].pos().x() == pytest.approx(0.51)
    panel.show_rows([Row(1, "a", 0.9)])
    assert _bar_labels(panel) == ["90.0%"]
    assert panel._texts[0].pos().x() == pytest.approx(0.89)


def test_a_long_title_does_not_push_the_picture_out_of_a_narrow_view(qtbot, photo):
    view = ImageView("Augmented image, a title wider than the view")
    qtbot.addWidget(view)
    view.setMinimumSize(100, 100)
    view.resize(120, 380)
    view.show()
    qtbot.waitExposed(view)
    view.set_image(photo)
    qtbot.waitUntil(lambda: view.view.width() <= view.width())
    # The whole picture is within the visible range of the view box.
    (x0, x1), (y0, y1) = view.view.viewRange()
    assert x0 <= 0 and x1 >= photo.shape[1] and y0 <= 0 and y1 >= photo.shape[0]
    corner = view.view.mapViewToScene(QPointF(photo.shape[1], photo.shape[0]))
    assert view.mapFromScene(corner).x() <= view.width()
