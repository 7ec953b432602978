"""Dropout, train vs eval: stochastic passes beside the eval answer, the mask, the BN trap."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnviz.qt.panels.map_view import MapView
from cnnviz.qt.panels.teach_common import RunRow, ThemedPlot, note, units_grid
from cnnviz.qt.theme import Theme

if TYPE_CHECKING:
    from cnnviz.core.teach.requests import TrainEvalOutcome

MODE_TEXT = (
    "TRAIN MODE for this view only: dropout (and stochastic depth) draw a new random mask "
    "on every pass. The main view always predicts in eval mode."
)


class TrainEvalPanel(QWidget):
    """Run N train-behaviour passes; show their spread, a Dropout mask and the BN trap."""

    sigRun = Signal(int, object, bool)  # passes, dropout p (None: the model's own), batch norm

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.outcome: TrainEvalOutcome | None = None
        self.mode_label = note(MODE_TEXT)  # stays on top: which mode this view runs in
        self.passes_spin = QSpinBox()
        self.passes_spin.setRange(2, 500)
        self.passes_spin.setValue(20)
        self.override_check = QCheckBox("set dropout p to")
        self.p_spin = QDoubleSpinBox()
        self.p_spin.setRange(0.0, 0.95)
        self.p_spin.setSingleStep(0.05)
        self.p_spin.setValue(0.5)
        self.bn_check = QCheckBox("batch norm in train mode too")
        self.run_row = RunRow("Run train-mode passes")
        self.run_row.sigRun.connect(self._run)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Passes"))
        controls.addWidget(self.passes_spin)
        controls.addWidget(self.override_check)
        controls.addWidget(self.p_spin)
        controls.addStretch(1)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Class", "Eval", "Train mean", "± std", "min – max"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.plot = ThemedPlot("Probability per pass (dots) and in eval mode (bar)")
        self.plot.setLabel("left", "probability")
        self.mask_view = MapView("Dropout output (blank: zeroed)")
        self.mask_text = note("")
        self.unit_table = QTableWidget(0, 4)
        self.unit_table.setHorizontalHeaderLabels(["Unit", "Input", "Kept?", "Output"])
        self.unit_table.verticalHeader().hide()
        self.unit_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.unit_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.trap_text = note("")
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.table, 1)
        lv.addWidget(self.plot, 2)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(self.mask_view, 2)
        rv.addWidget(self.mask_text)
        rv.addWidget(self.unit_table, 1)
        rv.addWidget(self.trap_text)
        split = QSplitter()
        split.addWidget(left)
        scroll = QScrollArea()  # the mask, its numbers and the trap scroll when space is short
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setWidget(right)
        right.setMinimumHeight(360)
        split.addWidget(scroll)
        layout = QVBoxLayout(self)
        layout.addWidget(self.mode_label)
        layout.addLayout(controls)
        layout.addWidget(self.bn_check)
        layout.addWidget(self.run_row)
        layout.addWidget(split, 1)

    def _run(self) -> None:
        p = self.p_spin.value() if self.override_check.isChecked() else None
        self.sigRun.emit(self.passes_spin.value(), p, self.bn_check.isChecked())

    def set_running(self, running: bool) -> None:
        self.run_row.set_running(running)

    def show_progress(self, done: int, total: int) -> None:
        self.run_row.show_progress(done, total)

    def show_error(self, message: str) -> None:
        self.set_running(False)
        self.mode_label.setText(f"{MODE_TEXT} Failed: {message}")

    def show_outcome(self, outcome: TrainEvalOutcome) -> None:
        self.set_running(False)
        self.outcome = outcome
        passes = outcome.passes
        layers = ", ".join(f"{n} (p={p:.2f})" for n, p in passes.dropout_layers) or "none"
        self.mode_label.setText(
            f"{MODE_TEXT} {passes.summary()}{' (cancelled)' if passes.cancelled else ''}. "
            "Dropout layers: "
            f"{layers}; stochastic-depth blocks: {passes.stochastic_depth_layers}. In eval "
            "mode the answer is the same on every run."
        )
        self.table.setRowCount(len(passes.classes))
        for i, c in enumerate(passes.classes):
            cells = [
                c.label,
                f"{c.eval_probability:.1%}",
                f"{c.mean:.1%}",
                f"{c.std:.1%}",
                f"{c.low:.1%} – {c.high:.1%}",
            ]
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self._draw_plot()
        self._show_mask()
        trap = outcome.trap
        changed = "changes" if trap.train_top1 != trap.eval_top1 else "keeps"
        self.trap_text.setText(
            "<b>Batch norm, train mode, batch of one.</b> "
            f"BatchNorm1d: “{trap.batchnorm1d_error}”. "
            f"BatchNorm2d ({trap.layer}): each channel normalised by this image's own statistics; "
            f"the answer {changed}: eval {trap.eval_top1} ({trap.eval_top1_probability:.0%}) vs "
            f"train {trap.train_top1} ({trap.train_top1_probability:.0%}). {trap.explanation}"
        )

    def _draw_plot(self) -> None:
        self.plot.clear()
        if self.outcome is None:
            return
        passes = self.outcome.passes
        theme = self.plot.theme
        n = len(passes.classes)
        rng = np.random.default_rng(0)
        for k in range(n):
            ys = passes.pass_probabilities[:, k]
            xs = k + rng.uniform(-0.15, 0.15, len(ys))
            self.plot.plot(
                xs,
                ys,
                pen=None,
                symbol="o",
                symbolSize=6,
                symbolBrush=theme.muted,
                symbolPen=None,
            )
            self.plot.plot(
                [k - 0.3, k + 0.3],
                [passes.classes[k].eval_probability] * 2,
                pen=pg.mkPen(theme.accent, width=theme.line_width),
            )
        self.plot.getAxis("bottom").setTicks(
            [[(k, c.label[:14]) for k, c in enumerate(passes.classes)]]
        )
        self.plot.setYRange(0, 1, padding=0.02)

    def _show_mask(self) -> None:
        view = self.outcome.dropout if self.outcome is not None else None
        if view is None:
            self.mask_view.show_array(None)
            self.mask_text.setText("This model has no Dropout layer.")
            self.unit_table.setRowCount(0)
            return
        shown = np.where(view.kept, view.output, np.nan)
        finite = view.output[view.kept]
        levels = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if levels[1] <= levels[0]:
            levels = (levels[0], levels[0] + 1.0)
        self.mask_view.show_array(units_grid(shown), colormap="viridis", levels=levels)
        self.mask_text.setText(
            f"{view.layer}: p = {view.p:.2f}; {view.zeroed_fraction:.1%} of {view.kept.size} "
            f"units zeroed; every survivor is multiplied by 1/(1 − p) = {view.scale:.3f}, so "
            "the expected activation is unchanged."
        )
        rows = min(8, view.input.size)
        self.unit_table.setRowCount(rows)
        flat_in, flat_out, flat_kept = view.input.ravel(), view.output.ravel(), view.kept.ravel()
        for i in range(rows):
            kept = bool(flat_kept[i])
            cells = [
                str(i),
                f"{flat_in[i]:.4f}",
                "kept" if kept else "zeroed",
                f"{flat_out[i]:.4f}" + (f" = {flat_in[i]:.4f} × {view.scale:.3f}" if kept else ""),
            ]
            for j, text in enumerate(cells):
                self.unit_table.setItem(i, j, QTableWidgetItem(text))
        self.unit_table.resizeColumnsToContents()

    def apply_theme(self, theme: Theme) -> None:
        self.plot.apply_theme(theme)
        self.mask_view.apply_theme(theme)
        self._draw_plot()
