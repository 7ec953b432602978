"""Where the docks go: the saved layout, or sensible first-run sizes."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow

LEFT_WIDTH = 420  # the layer tree with its shape and parameter columns
RIGHT_WIDTH = 400  # the predictions
BOTTOM_SHARE = 0.45  # of the window height, for the feature maps and the other tabs


def restore(window: QMainWindow) -> bool:
    """Saved geometry and docks (True), or first-run sizes that keep the images large."""
    geometry = window.settings.value("geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    else:
        window.resize(1440, 900)
    state = window.settings.value("windowState")
    if state is not None and window.restoreState(state):
        return True
    default_dock_sizes(window)
    return False


def default_dock_sizes(window: QMainWindow) -> None:
    """Side docks narrow enough that the two images in the middle stay large."""
    docks = [d for d in window.findChildren(QDockWidget) if not d.isFloating()]
    by_area = {
        area: [d for d in docks if window.dockWidgetArea(d) == area]
        for area in (Qt.LeftDockWidgetArea, Qt.RightDockWidgetArea, Qt.BottomDockWidgetArea)
    }
    sides = by_area[Qt.LeftDockWidgetArea][:1] + by_area[Qt.RightDockWidgetArea][:1]
    widths = [
        LEFT_WIDTH if window.dockWidgetArea(d) == Qt.LeftDockWidgetArea else RIGHT_WIDTH
        for d in sides
    ]
    window.resizeDocks(sides, widths, Qt.Horizontal)
    if by_area[Qt.BottomDockWidgetArea]:
        height = int(window.height() * BOTTOM_SHARE)
        window.resizeDocks(by_area[Qt.BottomDockWidgetArea][:1], [height], Qt.Vertical)
