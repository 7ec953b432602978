"""Where the docks go: the saved layout, or sensible first-run sizes."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow


def restore(window: QMainWindow) -> None:
    """Saved geometry and docks, or a first-run default that keeps the images large."""
    geometry = window.settings.value("geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    else:
        window.resize(1440, 900)
    state = window.settings.value("windowState")
    if state is None or not window.restoreState(state):
        default_dock_sizes(window)


def default_dock_sizes(window: QMainWindow) -> None:
    """Side docks narrow enough that the two images in the middle stay large."""
    docks = [d for d in window.findChildren(QDockWidget) if not d.isFloating()]
    by_area = {
        area: [d for d in docks if window.dockWidgetArea(d) == area]
        for area in (Qt.LeftDockWidgetArea, Qt.RightDockWidgetArea, Qt.BottomDockWidgetArea)
    }
    sides = by_area[Qt.LeftDockWidgetArea][:1] + by_area[Qt.RightDockWidgetArea][:1]
    widths = [320 if window.dockWidgetArea(d) == Qt.LeftDockWidgetArea else 400 for d in sides]
    window.resizeDocks(sides, widths, Qt.Horizontal)
    if by_area[Qt.BottomDockWidgetArea]:
        window.resizeDocks(by_area[Qt.BottomDockWidgetArea][:1], [380], Qt.Vertical)
