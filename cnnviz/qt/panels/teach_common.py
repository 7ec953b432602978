"""Small pieces the Teach panels share: themed plots, montages, the run/cancel row."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from cnnviz.qt.theme import NORMAL, Theme


class ThemedPlot(pg.PlotWidget):
    """A plot that follows the theme's background, foreground and font."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMenuEnabled(False)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.theme = NORMAL
        if title:
            self.setTitle(title)
        self.setMinimumHeight(90)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.setBackground(theme.background)
        for name in ("left", "bottom"):
            axis = self.getAxis(name)
            axis.setTextPen(theme.foreground)
            axis.setPen(theme.foreground)
        title = self.plotItem.titleLabel.text
        if title:
            self.setTitle(title, color=theme.foreground)


def draw_histograms(
    plot: ThemedPlot,
    edges: np.ndarray,
    counts: np.ndarray,
    names: tuple[str, ...],
) -> None:
    """One step curve per row of `counts` (on `edges`, shared or one row per curve)."""
    plot.clear()
    plot.addLegend(offset=(5, 5))
    colours = plot.theme.series
    for i, name in enumerate(names):
        plot.plot(
            edges[i] if np.ndim(edges) == 2 else edges,
            counts[i],
            stepMode="center",
            name=name,
            pen=pg.mkPen(colours[i % len(colours)], width=plot.theme.line_width / 2),
        )


def montage(maps: np.ndarray, channels: int = 16) -> np.ndarray:
    """The first `channels` (C, H, W) maps tiled in a near-square grid, NaN between tiles."""
    maps = np.asarray(maps, dtype=np.float32)[:channels]
    n, h, w = maps.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    out = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan, dtype=np.float32)
    for k in range(n):
        r, c = divmod(k, cols)
        out[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = maps[k]
    return out


def units_grid(values: np.ndarray) -> np.ndarray:
    """A flat vector of units as a near-square 2D grid (NaN-padded); maps stay as they are."""
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 3:
        return montage(values)
    flat = values.ravel()
    cols = int(np.ceil(np.sqrt(flat.size)))
    rows = int(np.ceil(flat.size / cols))
    out = np.full(rows * cols, np.nan, dtype=np.float32)
    out[: flat.size] = flat
    return out.reshape(rows, cols)


class RunRow(QWidget):
    """Run and Cancel buttons with a progress bar (shown while running)."""

    sigRun = Signal()
    sigCancel = Signal()

    def __init__(self, run_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_button = QPushButton(run_text)
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(200)
        self.run_button.clicked.connect(self.sigRun.emit)
        self.cancel_button.clicked.connect(self.sigCancel.emit)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.run_button, self.cancel_button, self.progress):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.set_running(False)

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        self.progress.setRange(0, 0)

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)


def refill(combo: QComboBox, names: Sequence[str]) -> None:
    """Offer `names` in `combo`, keeping the current choice where it still exists, without
    emitting (the caller asks again once the lists are in)."""
    current = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(list(names))
    if current in names:
        combo.setCurrentText(current)
    combo.blockSignals(False)


def note(text: str = "") -> QLabel:
    """A word-wrapped label."""
    label = QLabel(text)
    label.setWordWrap(True)
    return label
