"""Top-k predictions: a horizontal bar chart above a table, copyable as text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnviz.qt.theme import NORMAL, Theme


@dataclass(frozen=True)
class Row:
    """One class as the panel shows it; `change` columns are filled when comparing."""

    rank: int
    label: str
    probability: float
    change: str = ""  # e.g. "+12.0 pp, ↑2"


class PredictionsPanel(QWidget):
    sigCopied = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = NORMAL
        self.rows: list[Row] = []
        self.highlighted: str | None = None  # the true class, marked where it is in the rows
        self.title = QLabel("Top-5 predictions")
        self.title.setObjectName("panelTitle")
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.getPlotItem().invertY(True)
        self.plot.setXRange(0, 1.0, padding=0.02)
        self.plot.getAxis("bottom").setTicks([[(v / 2, f"{v * 50}%") for v in range(3)]])
        self.plot.showGrid(x=True, y=False, alpha=0.25)
        self.plot.setMinimumHeight(130)
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[], brushes=[])
        self.plot.addItem(self.bars)
        self._texts: list[pg.TextItem] = []

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["#", "Class", "Probability"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeToContents)

        self._fit_table()
        self.copy_button = QPushButton("Copy as text")
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.copy_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.note)
        layout.addWidget(self.plot, 3)
        layout.addWidget(self.table, 2)
        layout.addLayout(buttons)

    def show_rows(self, rows: Sequence[Row], *, note: str = "") -> None:
        self.rows = list(rows)
        self.note.setText(note)
        self.note.setVisible(bool(note))
        self._draw_bars()
        self._fill_table()

    def _draw_bars(self) -> None:
        rows = self.rows
        brushes = [
            self._theme.selection
            if r.label == self.highlighted
            else self._theme.accent
            if r.rank == 1
            else self._theme.muted
            for r in rows
        ]
        self.bars.setOpts(
            x0=[0] * len(rows),
            y=[r.rank for r in rows],
            width=[r.probability for r in rows],
            height=0.7,
            brushes=brushes,
            pen=pg.mkPen(None),
        )
        left = self.plot.getAxis("left")
        left.setTicks([[(r.rank, _short(r.label)) for r in rows]])
        left.setWidth(None)
        # The value labels are made once and moved: making five TextItems per live update
        # (and removing the old ones) took most of this panel's redraw.
        while len(self._texts) < len(rows):
            text = pg.TextItem("")
            self.plot.addItem(text)
            self._texts.append(text)
        for text in self._texts[len(rows) :]:
            text.hide()
        for r, text in zip(rows, self._texts, strict=False):
            # A long bar carries its label inside, in the background colour, so that the
            # label never runs off a narrow plot.
            inside = r.probability > 0.6
            text.setText(
                f"{r.probability:.1%}",
                color=self._theme.background if inside else self._theme.foreground,
            )
            text.setAnchor((1, 0.5) if inside else (0, 0.5))
            text.setPos(r.probability - 0.01 if inside else r.probability + 0.01, r.rank)
            text.show()
        self.plot.setYRange(0.5, max(len(rows), 5) + 0.5, padding=0)

    def _fill_table(self) -> None:
        comparing = any(r.change for r in self.rows)
        self.table.setColumnCount(4 if comparing else 3)
        labels = ["#", "Class", "Probability"] + (["Change"] if comparing else [])
        self.table.setHorizontalHeaderLabels(labels)
        if comparing:
            self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeToContents)
        self.table.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            cells = [str(r.rank), r.label, f"{r.probability:.2%}"] + (
                [r.change] if comparing else []
            )
            for j, value in enumerate(cells):
                item = QTableWidgetItem(value)
                if r.label == self.highlighted:
                    item.setBackground(QColor(self._theme.selection))
                    item.setForeground(QColor("#000000"))
                    item.setToolTip("the true class")
                if j != 1:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(i, j, item)

    def highlight_label(self, label: str | None) -> None:
        """Mark the row and bar of class `label` (the true class); None: no mark."""
        if label != self.highlighted:
            self.highlighted = label
            self._draw_bars()
            self._fill_table()

    def _fit_table(self) -> None:
        """Room for all five rows and the header, however the docks are arranged."""
        row = self.table.fontMetrics().height() + 8
        self.table.verticalHeader().setDefaultSectionSize(row)
        header = self.table.horizontalHeader().sizeHint().height()
        self.table.setMinimumHeight(5 * row + header + 6)

    def as_text(self) -> str:
        lines = [
            f"{r.rank}. {r.label}\t{r.probability:.2%}" + (f"\t{r.change}" if r.change else "")
            for r in self.rows
        ]
        return "\n".join(lines)

    def copy_to_clipboard(self) -> None:
        text = self.as_text()
        QGuiApplication.clipboard().setText(text)
        self.sigCopied.emit(text)

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        self._fit_table()
        self.plot.setBackground(theme.background)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen(theme.foreground)
            self.plot.getAxis(axis).setPen(theme.foreground)
            font = self.font()
            self.plot.getAxis(axis).setStyle(tickFont=font)
        self._draw_bars()


def _short(label: str, limit: int = 22) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
