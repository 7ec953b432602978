"""Sweep one augmentation parameter and plot the top classes; count top-1s over draws.

The panel only collects what to run and draws outcomes; the controller builds the
SweepRequest / StabilityRequest and talks to the worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.augment.catalog import catalog_entry
from cnnviz.core.augment.spec import AugmentSpec
from cnnviz.core.augment.sweep import describe_sweep, linspace_values
from cnnviz.qt.panels.augment_params import shown_value
from cnnviz.qt.panels.flow import FlowLayout, labelled
from cnnviz.qt.theme import NORMAL, Theme

if TYPE_CHECKING:
    from cnnviz.core.augment.requests import StabilityOutcome, SweepOutcome

# Okabe–Ito colours (told apart with colour-blindness too), per background.
_Y_TOP = 1.32


def sweep_range(spec: AugmentSpec, index: int, param: str) -> tuple[float, float]:
    """A first guess for the swept range: the pipeline's own range, else the catalogue's."""
    call = spec.calls[index]
    p = catalog_entry(call.name).param(param)
    value = shown_value(call, p)
    if isinstance(value, tuple) and len(value) == 2 and value[0] < value[1]:
        return float(value[0]), float(value[1])
    return float(p.min), float(p.max)


def _add_labelled(row: QHBoxLayout, *pairs: tuple[str, QWidget]) -> None:
    for label, widget in pairs:
        row.addWidget(QLabel(label))
        row.addWidget(widget)


class SweepPanel(QWidget):
    """Run a sweep or a stability count and show the outcome as a plot or a table."""

    sigRunSweep = Signal(int, str, object)  # transform index, param, values (tuple)
    sigRunStability = Signal(int)  # samples
    sigCancel = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = AugmentSpec()
        self._theme = NORMAL
        self.outcome: SweepOutcome | None = None
        self.stability: StabilityOutcome | None = None
        self.curves: list[pg.PlotDataItem] = []
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_sweep(), "Sweep")
        self.tabs.addTab(self._build_stability(), "Stability")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tabs)
        self.set_pipeline(AugmentSpec())
        self.set_running(False)

    # --- construction -------------------------------------------------------------
    def _build_sweep(self) -> QWidget:
        page = QWidget()
        self.transform_combo = QComboBox()
        self.transform_combo.currentIndexChanged.connect(self._fill_params)
        self.param_combo = QComboBox()
        self.param_combo.currentIndexChanged.connect(self._on_param_chosen)
        self.lo_spin, self.hi_spin = QDoubleSpinBox(), QDoubleSpinBox()
        for spin in (self.lo_spin, self.hi_spin):
            spin.setDecimals(3)
            spin.setRange(-1e6, 1e6)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(2, 201)
        self.steps_spin.setValue(13)
        self.run_button = QPushButton("Run sweep")
        self.run_button.clicked.connect(self._run_sweep)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.sigCancel.emit)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(200)
        self.sweep_note = QLabel("")
        self.sweep_note.setWordWrap(True)
        for combo in (self.transform_combo, self.param_combo):
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
        # One wrapping row: the panel sits in a side dock beside the lab.
        controls = FlowLayout()
        for label, widget in (
            ("Transform", self.transform_combo),
            ("Parameter", self.param_combo),
            ("from", self.lo_spin),
            ("to", self.hi_spin),
            ("steps", self.steps_spin),
        ):
            controls.addWidget(labelled(label, widget))
        for widget in (self.run_button, self.cancel_button, self.progress):
            controls.addWidget(widget)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(70)
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setYRange(-0.06, _Y_TOP, padding=0)
        self.plot.setLabel("left", "probability")
        self.plot.getAxis("left").setTicks([[(v / 4, f"{v * 25}%") for v in range(5)]])
        # Probabilities stop at 100%: the band above holds the legend, clear of the curves.
        self.legend = self.plot.addLegend(offset=(10, 5), colCount=5)
        layout = QVBoxLayout(page)
        layout.addLayout(controls)
        layout.addWidget(self.sweep_note)
        layout.addWidget(self.plot, 1)
        return page

    def _build_stability(self) -> QWidget:
        page = QWidget()
        self.samples_spin = QSpinBox()
        self.samples_spin.setRange(2, 1024)
        self.samples_spin.setValue(32)
        self.stability_button = QPushButton("Draw and count")
        self.stability_button.clicked.connect(
            lambda: self.sigRunStability.emit(self.samples_spin.value())
        )
        self.stability_cancel = QPushButton("Cancel")
        self.stability_cancel.clicked.connect(self.sigCancel.emit)
        self.stability_progress = QProgressBar()
        self.stability_progress.setMaximumWidth(200)
        self.stability_note = QLabel(
            "Runs the current pipeline with seeds s, s+1, … and counts "
            "how often each class comes out on top."
        )
        self.stability_note.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Top-1 class", "Draws", "Share"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        row = FlowLayout()
        row.addWidget(labelled("Samples", self.samples_spin))
        row.addWidget(self.stability_button)
        row.addWidget(self.stability_cancel)
        row.addWidget(self.stability_progress)
        layout = QVBoxLayout(page)
        layout.addLayout(row)
        layout.addWidget(self.stability_note)
        layout.addWidget(self.table, 1)
        return page

    # --- choosing what to sweep ---------------------------------------------------------
    def set_pipeline(self, spec: AugmentSpec) -> None:
        """Offer the pipeline's transforms; keep the current choice where it still exists."""
        old = (self.transform_combo.currentIndex(), self.param_combo.currentText())
        same_names = spec.names == self.spec.names
        self.spec = spec
        if same_names and self.transform_combo.count() == len(spec):
            return  # a parameter moved (a slider drag): the choices stay as they are
        self.transform_combo.blockSignals(True)
        self.transform_combo.clear()
        for i, call in enumerate(spec.calls):
            self.transform_combo.addItem(f"{i + 1}. {call.name}", i)
        self.transform_combo.blockSignals(False)
        if same_names and 0 <= old[0] < len(spec):
            self.transform_combo.setCurrentIndex(old[0])  # parameters edited: keep the range
            return
        self.transform_combo.setCurrentIndex(0 if len(spec) else -1)
        self._fill_params()
        self.stability_button.setEnabled(bool(len(spec)) and not self._running)

    def _fill_params(self, *_: Any) -> None:
        index = self.transform_combo.currentData()
        self.param_combo.blockSignals(True)
        self.param_combo.clear()
        if index is not None:
            for p in catalog_entry(self.spec.calls[index].name).params:
                if p.sweepable:
                    self.param_combo.addItem(p.name)
        self.param_combo.blockSignals(False)
        self._on_param_chosen()

    def _on_param_chosen(self, *_: Any) -> None:
        index, param = self.transform_combo.currentData(), self.param_combo.currentText()
        ok = index is not None and bool(param)
        self.run_button.setEnabled(ok and not self._running)
        if not ok:
            self.sweep_note.setText(
                "Add a transform with a sweepable parameter in the lab."
                if not len(self.spec) or index is None
                else "This transform has nothing to sweep."
            )
            return
        p = catalog_entry(self.spec.calls[index].name).param(param)
        for spin in (self.lo_spin, self.hi_spin):
            spin.setRange(p.min, p.max)
            spin.setSingleStep(p.step or 0.01)
        lo, hi = sweep_range(self.spec, index, param)
        self.lo_spin.setValue(lo)
        self.hi_spin.setValue(hi)
        self.sweep_note.setText(
            f"Each step sets {describe_sweep(self.spec.calls[index].name, param)}"
            "; the other transforms keep their seeded draw."
        )

    def sweep_values(self) -> tuple[float, ...]:
        """The values the next sweep will run."""
        values = linspace_values(
            self.lo_spin.value(), self.hi_spin.value(), self.steps_spin.value()
        )
        return tuple(float(v) for v in values)

    def _run_sweep(self) -> None:
        index = self.transform_combo.currentData()
        if index is not None and self.param_combo.currentText():
            self.sigRunSweep.emit(index, self.param_combo.currentText(), self.sweep_values())

    # --- running ------------------------------------------------------------------------
    _running = False

    def set_running(self, running: bool) -> None:
        """Enable Cancel while a run is on, Run otherwise."""
        self._running = running
        for cancel in (self.cancel_button, self.stability_cancel):
            cancel.setEnabled(running)
        self.run_button.setEnabled(not running and bool(self.param_combo.currentText()))
        self.stability_button.setEnabled(not running and bool(len(self.spec)))
        for bar in (self.progress, self.stability_progress):
            bar.setVisible(running)
            bar.setRange(0, 0)

    def show_progress(self, done: int, total: int) -> None:
        """Steps (or draws) done so far."""
        for bar in (self.progress, self.stability_progress):
            bar.setRange(0, max(total, 1))
            bar.setValue(done)

    def show_error(self, message: str) -> None:
        """A failed run: say why."""
        self.set_running(False)
        self.sweep_note.setText(f"Sweep failed: {message}")
        self.stability_note.setText(f"Stability run failed: {message}")

    # --- outcomes -----------------------------------------------------------------------
    def show_sweep(self, outcome: SweepOutcome) -> None:
        """Plot every kept class's probability against the swept value."""
        self.set_running(False)
        self.outcome = outcome
        done = f"cancelled after {len(outcome.values)} steps · " if outcome.cancelled else ""
        self.sweep_note.setText(f"{done}{outcome.transform}: {outcome.description}")
        self._draw_sweep()

    def _draw_sweep(self) -> None:
        self.plot.clear()
        self.legend.clear()
        self.plot.enableAutoRange(False)
        self.curves = []
        outcome = self.outcome
        if outcome is None:
            return
        colours, width = self._theme.series, self._theme.line_width
        for k, label in enumerate(outcome.labels):
            colour = colours[k % len(colours)]
            curve = self.plot.plot(
                outcome.values,
                outcome.probabilities[:, k],
                name=label,
                pen=pg.mkPen(colour, width=width),
                symbol="o",
                symbolSize=width + 3,
                symbolBrush=colour,
                symbolPen=pg.mkPen(colour),
            )
            self.curves.append(curve)
        self.plot.setLabel("bottom", f"{outcome.transform}  {outcome.param}")
        if len(outcome.values):
            self.plot.setXRange(
                float(np.min(outcome.values)), float(np.max(outcome.values)), padding=0.03
            )
        self.plot.setYRange(-0.06, _Y_TOP, padding=0)

    def show_stability(self, outcome: StabilityOutcome) -> None:
        """Fill the table: each class that came out on top, how often, and its share."""
        self.set_running(False)
        self.stability = outcome
        self.table.setRowCount(len(outcome.counts))
        for i, (label, count) in enumerate(outcome.counts):
            self.table.setItem(i, 0, QTableWidgetItem(label))
            item = QTableWidgetItem(str(count))
            item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            self.table.setItem(i, 1, item)
            bar = QProgressBar()
            bar.setRange(0, max(outcome.samples, 1))
            bar.setValue(count)
            bar.setFormat(f"{count / max(outcome.samples, 1):.0%}")
            self.table.setCellWidget(i, 2, bar)
        stopped = " (cancelled)" if outcome.cancelled else ""
        self.stability_note.setText(
            f"{outcome.samples} draws{stopped} with seeds {outcome.first_seed}…"
            f"{outcome.first_seed + max(outcome.samples - 1, 0)}. Without augmentation the "
            f"top-1 is {outcome.baseline_label}."
        )

    def apply_theme(self, theme: Theme) -> None:
        """Plot colours and line widths for normal or presentation mode."""
        self._theme = theme
        self.plot.setBackground(theme.background)
        for axis in ("left", "bottom"):
            ax = self.plot.getAxis(axis)
            ax.setTextPen(theme.foreground)
            ax.setPen(theme.foreground)
            ax.setStyle(tickFont=self.font())
            ax.label.setFont(self.font())
        self.legend.setLabelTextColor(theme.foreground)
        self.legend.setLabelTextSize(f"{max(self.font().pointSizeF(), 8.0):.0f}pt")
        self.legend.setBrush(pg.mkBrush(theme.background + "c0"))
        self.legend.setPen(pg.mkPen(theme.foreground))
        self._draw_sweep()
