"""The compact strip every workspace but Classify shows: input, model input and top-5."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from cnnviz.qt.panels.image_panel import ImageView
from cnnviz.qt.panels.predictions import Row
from cnnviz.qt.theme import NORMAL, Theme

HEIGHT_SHARE = 0.17  # of the window's height
MIN_HEIGHT, MAX_HEIGHT = 110, 260


class CompactStrip(QWidget):
    """Small pictures of the input and what the model sees, and the top-5 as text."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compactStrip")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.original = ImageView("Input")
        self.model_input = ImageView("Model input")
        for view in (self.original, self.model_input):
            view.setMinimumSize(90, 90)
            layout.addWidget(view, 1)
        self.top = QLabel("")
        self.top.setObjectName("stripTop5")
        self.top.setTextFormat(Qt.RichText)
        self.top.setAlignment(Qt.AlignLeft | Qt.AlignVCenter)
        self.top.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        layout.addWidget(self.top, 2)
        self.rows: list[Row] = []
        self.note = ""
        self._theme = NORMAL
        self.fit_height(900)

    def fit_height(self, window_height: int) -> None:
        """A fifth of the window, within bounds: the star view keeps the rest."""
        scale = max(1.0, self._theme.font_scale * 0.85)
        height = int(min(MAX_HEIGHT * scale, max(MIN_HEIGHT, window_height * HEIGHT_SHARE)))
        self.setFixedHeight(height)

    def show_result(
        self,
        original: np.ndarray | None,
        model_input: np.ndarray | None,
        rows: Sequence[Row],
        note: str = "",
    ) -> None:
        self.original.set_image(original)
        self.model_input.set_image(model_input)
        self.rows = list(rows)
        self.note = note
        self._draw_rows()

    def row_texts(self) -> list[str]:
        return [f"{r.rank}. {r.label} {r.probability * 100:.1f}%" for r in self.rows]

    def _draw_rows(self) -> None:
        theme = self._theme
        lines = []
        for row, text in zip(self.rows, self.row_texts(), strict=True):
            weight = "bold" if row.rank == 1 else "normal"
            change = ""
            if row.change:
                change = f" <span style='color:{theme.accent}'>{row.change}</span>"
            lines.append(f"<div style='font-weight:{weight}'>{text}{change}</div>")
        if self.note:
            lines.append(f"<div style='color:{theme.warning_bg}'>{self.note}</div>")
        self.top.setText("".join(lines))

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        self.original.apply_theme(theme)
        self.model_input.apply_theme(theme)
        window = self.window()
        self.fit_height(window.height() if window is not None else 900)
        self._draw_rows()
