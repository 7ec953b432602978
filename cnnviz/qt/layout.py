"""The window's saved size, or a first-run size that suits a projector."""

from __future__ import annotations

from PySide6.QtWidgets import QMainWindow

FIRST_RUN_SIZE = (1440, 900)


def restore_geometry(window: QMainWindow) -> None:
    """Saved geometry, or the first-run size (the docks are each workspace's business)."""
    geometry = window.settings.value("geometry")
    if geometry is None or not window.restoreGeometry(geometry):
        window.resize(*FIRST_RUN_SIZE)
