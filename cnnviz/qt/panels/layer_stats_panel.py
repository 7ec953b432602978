"""Statistics of the selected layer's activation for the current input."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from cnnviz.qt.panels.adaptive import orient
from cnnviz.qt.theme import NORMAL, Theme

if TYPE_CHECKING:
    from cnnviz.core.inspect.stats import LayerStats


FIELDS = ("layer", "mean", "std", "min", "max", "zeros", "dead")
FIELD_TITLES = {
    "layer": "Layer",
    "mean": "Mean",
    "std": "Std",
    "min": "Min",
    "max": "Max",
    "zeros": "Exact zeros",
    "dead": "Dead channels",
}
FIELD_TIPS = {
    "zeros": "Fraction of values that are exactly 0 (after a ReLU: switched off)",
    "dead": "Channels with no value above 0 for this input: nothing passes a following ReLU",
}


class LayerStatsPanel(QWidget):
    """A histogram of all activation values beside the summary numbers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stats: LayerStats | None = None
        self.labels: dict[str, QLabel] = {}
        form = QFormLayout()
        for key in FIELDS:
            label = QLabel("—")
            label.setToolTip(FIELD_TIPS.get(key, ""))
            self.labels[key] = label
            form.addRow(FIELD_TITLES[key] + ":", label)
        self.log_box = QCheckBox("log count")
        self.log_box.setToolTip("Logarithmic count axis: shows small bins beside a spike at 0")
        self.log_box.toggled.connect(self._set_log)
        form.addRow(self.log_box)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.setLabel("bottom", "activation value")
        self.plot.setLabel("left", "count")
        self.curve = pg.PlotDataItem(stepMode="center", fillLevel=0)
        self.plot.addItem(self.curve)
        self.zero_line = pg.InfiniteLine(pos=0, angle=90, movable=False)
        self.plot.addItem(self.zero_line)
        side = QWidget()
        side.setLayout(form)
        row = QHBoxLayout()
        row.addWidget(side, 0)
        row.addWidget(self.plot, 1)
        self._row = row
        row.setDirection(row.Direction.TopToBottom)  # until it is laid out wide
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(row)
        self.apply_theme(NORMAL)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        orient(self, self._row)

    def show_stats(self, layer: str, stats: LayerStats, channels: int) -> None:
        """Show a LayerStats of `layer` (with `channels` channels)."""
        self.stats = stats
        self.labels["layer"].setText(layer)
        for key in ("mean", "std", "min", "max"):
            self.labels[key].setText(f"{getattr(stats, key):.5g}")
        self.labels["zeros"].setText(f"{stats.zero_fraction:.1%}")
        dead = stats.dead_channels
        self.labels["dead"].setText(f"{dead} of {channels} ({dead / max(channels, 1):.0%})")
        shown = stats.dead_channel_indices[:40].tolist()
        more = " …" if stats.dead_channels > len(shown) else ""
        self.labels["dead"].setToolTip(
            FIELD_TIPS["dead"] + (f"\nDead: {shown}{more}" if shown else "")
        )
        self._draw()

    def _draw(self) -> None:
        stats = self.stats
        if stats is None:
            return
        counts = stats.hist_counts.astype(np.float64)
        if self.log_box.isChecked():
            # log10(1 + n): empty bins stay at 0 instead of -inf.
            counts = np.log10(1.0 + counts)
        self.curve.setData(stats.hist_edges, counts)
        self.plot.setLabel("left", "log₁₀(1 + count)" if self.log_box.isChecked() else "count")
        self.plot.autoRange()

    def _set_log(self, _on: bool) -> None:
        self._draw()

    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """(edges, heights) the plot draws now."""
        x, y = self.curve.getData()
        return x, y

    def apply_theme(self, theme: Theme = NORMAL) -> None:
        """Plot background, axis colours and fonts, curve colours."""
        self.plot.setBackground(theme.background)
        font = QApplication.font()
        for axis in ("left", "bottom"):
            ax = self.plot.getAxis(axis)
            ax.setPen(theme.foreground)
            ax.setTextPen(theme.foreground)
            ax.setStyle(tickFont=font)
            ax.label.setFont(font)
        self.curve.setPen(pg.mkPen(theme.accent, width=1.5))
        self.curve.setBrush(pg.mkBrush(theme.muted))
        self.zero_line.setPen(pg.mkPen(theme.foreground, style=pg.QtCore.Qt.DashLine))
