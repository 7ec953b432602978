"""Panels that turn with their space: side by side when wide, stacked when tall."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QBoxLayout, QSplitter, QWidget

WIDE = 1.3  # width/height above which parts sit side by side
MIN_WIDE_PX = 800  # ... and never in less than this: a side dock stays stacked


def orient(widget: QWidget, *parts: QBoxLayout | QSplitter) -> None:
    """Lay `parts` out across `widget` when it is wide, down it when it is tall (a side
    dock), so no part is squeezed below its minimum and clipped."""
    wide = widget.width() > max(WIDE * widget.height(), MIN_WIDE_PX)
    for part in parts:
        if isinstance(part, QSplitter):
            orientation = Qt.Horizontal if wide else Qt.Vertical
            if part.orientation() != orientation:
                part.setOrientation(orientation)
        else:
            direction = QBoxLayout.LeftToRight if wide else QBoxLayout.TopToBottom
            if part.direction() != direction:
                part.setDirection(direction)
