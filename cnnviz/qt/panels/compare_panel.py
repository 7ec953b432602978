"""Compare 2–4 architectures on the window's input: a table per model, agreement, and the
"revolution of depth" chart of published top-1 error against year, depth or MACs.

The panel collects the choice of models and draws plain-data results; the controller
(cnnviz.qt.compare_controller) builds the requests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnviz.qt.panels.adaptive import orient
from cnnviz.qt.theme import NORMAL, Theme

if TYPE_CHECKING:
    from cnnviz.core.compare.facts import ArchFacts, ErrorChart
    from cnnviz.core.compare.requests import ZooFacts
    from cnnviz.core.compare.run import Comparison, ModelRun

MIN_MODELS, MAX_MODELS = 2, 4
NAME_ROLE = Qt.UserRole + 1
AXES = (("year", "Year"), ("depth", "Depth (conv + linear layers)"), ("macs", "MACs per image"))
PUBLISHED_NOTE = (
    "Published top-1/top-5: ImageNet-1k validation accuracy from torchvision's weights "
    "metadata (published, not measured here). MACs: torch's FLOP counter ÷ 2. "
    "Depth: conv + linear layers."
)
FACT_ROWS = (
    "forward (ms)",
    "parameters",
    "MACs",
    "depth",
    "year",
    "published top-1",
    "published top-5",
    "weights",
)


def _count(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(int(n))


def _published(accuracy: float | None) -> str:
    return "—" if accuracy is None else f"{accuracy:.1f} % acc ({100 - accuracy:.1f} % err)"


class ComparePanel(QWidget):
    """Pick models, run them, and read their answers and facts side by side."""

    sigCompare = Signal(object)  # tuple of architecture names
    sigCancel = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = NORMAL
        self.facts: dict[str, ArchFacts] = {}
        self.zoo: ZooFacts | None = None
        self.comparison: Comparison | None = None
        self._texts: list[pg.TextItem] = []
        self._split = False
        self._fit_queued = False
        # The picker stays put; the table (every row, never squeezed) and the chart below it
        # scroll when the window is small, instead of clipping or growing the window.
        # Side by side when the workspace is wide, one above the other when it is tall.
        self.body = QSplitter(Qt.Horizontal)
        self.body.setChildrenCollapsible(False)
        self.body.addWidget(self._build_table())
        self.body.addWidget(self._build_chart())
        self.body.setStretchFactor(0, 3)
        self.body.setStretchFactor(1, 2)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.NoFrame)
        self.scroll.setWidget(self.body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._build_picker())
        layout.addWidget(self.scroll, 1)
        self._update_buttons()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        orient(self, self.body)
        if not self._split and self.body.orientation() == Qt.Horizontal and self.width() > 0:
            self._split = True  # once: later the user's own split stands
            self.body.setSizes([self.width() * 3 // 5, self.width() * 2 // 5])

    # --- construction -----------------------------------------------------------------
    def _build_picker(self) -> QVBoxLayout:
        self.arch_combo = QComboBox()
        self.arch_combo.setMinimumContentsLength(10)
        self.arch_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.arch_combo.addItem("Loading the model list…")
        self.arch_combo.setEnabled(False)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self._add_current)
        self.chosen = QListWidget()
        self.chosen.setFlow(QListWidget.LeftToRight)
        self.chosen.setWrapping(False)
        self.chosen.setSpacing(2)
        self.chosen.setSelectionMode(QAbstractItemView.SingleSelection)
        self._fit_chosen()
        self.chosen.setToolTip("Models to compare (2 to 4); select one and press Remove")
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.run_button = QPushButton("Compare")
        self.run_button.clicked.connect(self._on_run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.sigCancel)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        first = QHBoxLayout()
        first.addWidget(QLabel("Add model"))
        first.addWidget(self.arch_combo, 1)
        first.addWidget(self.add_button)
        first.addStretch(1)
        for widget in (self.run_button, self.cancel_button, self.progress):
            first.addWidget(widget)
        second = QHBoxLayout()
        second.addWidget(QLabel("Comparing"))
        second.addWidget(self.chosen, 1)
        second.addWidget(self.remove_button)
        rows = QVBoxLayout()
        rows.addLayout(first)
        rows.addLayout(second)
        return rows

    def _build_table(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.status = QLabel("Pick 2 to 4 models and press Compare.")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height() + 4)
        # Narrower columns wrap their text into taller rows: fit the height again.
        self.table.horizontalHeader().sectionResized.connect(self._queue_fit)
        self.agreement = QLabel("")
        self.agreement.setWordWrap(True)
        self.agreement.setTextFormat(Qt.RichText)
        self.note = QLabel(PUBLISHED_NOTE)
        self.note.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addWidget(self.table)
        layout.addWidget(self.agreement)
        layout.addWidget(self.note)
        layout.addStretch(1)
        return box

    def _build_chart(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.axis_combo = QComboBox()
        for axis, text in AXES:
            self.axis_combo.addItem(text, axis)
        self.axis_combo.currentIndexChanged.connect(lambda _i: self.draw_chart())
        row = QHBoxLayout()
        row.addWidget(QLabel("Published ImageNet top-1 error against"))
        row.addWidget(self.axis_combo)
        row.addStretch(1)
        self.chart_note = QLabel("")
        self.chart_note.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setMinimumHeight(200)
        self.plot.setMinimumWidth(280)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.points = pg.PlotDataItem([], [], pen=None, symbol="o", symbolSize=9)
        self.marked = pg.PlotDataItem([], [], pen=None, symbol="o", symbolSize=16)
        self.plot.addItem(self.points)
        self.plot.addItem(self.marked)
        layout.addLayout(row)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.chart_note)
        return box

    # --- the choice of models -----------------------------------------------------------
    def set_zoo(self, zoo: ZooFacts) -> None:
        """The architectures to pick from (with their facts) and the chart data."""
        self.zoo = zoo
        self.facts = {f.name: f for f in zoo.facts}
        self.arch_combo.clear()
        for f in zoo.facts:
            weights = "real weights" if f.weights_real else f.weights
            self.arch_combo.addItem(f"{f.display_name} · {f.year} · {weights}", f.name)
            self.arch_combo.setItemData(self.arch_combo.count() - 1, f.name, NAME_ROLE)
        self.arch_combo.setEnabled(True)
        for i in range(self.chosen.count()):  # names chosen before the facts arrived
            item = self.chosen.item(i)
            item.setText(self._display(item.data(NAME_ROLE)))
        self._update_buttons()
        self.draw_chart()

    def selected(self) -> tuple[str, ...]:
        return tuple(self.chosen.item(i).data(NAME_ROLE) for i in range(self.chosen.count()))

    def set_selected(self, names: Sequence[str]) -> None:
        self.chosen.clear()
        for name in names[:MAX_MODELS]:
            self.add_arch(name)

    def add_arch(self, name: str) -> bool:
        """Add `name` to the comparison (not twice, at most four)."""
        if name in self.selected() or self.chosen.count() >= MAX_MODELS:
            return False
        item = QListWidgetItem(self._display(name))
        item.setData(NAME_ROLE, name)
        self.chosen.addItem(item)
        self._update_buttons()
        self.draw_chart()
        return True

    def _display(self, name: str) -> str:
        facts = self.facts.get(name)
        return facts.display_name if facts is not None else name

    def _add_current(self) -> None:
        name = self.arch_combo.currentData()
        if name:
            self.add_arch(name)

    def remove_selected(self) -> None:
        row = self.chosen.currentRow()
        if row < 0 and self.chosen.count():
            row = self.chosen.count() - 1
        if row >= 0:
            self.chosen.takeItem(row)
        self._update_buttons()
        self.draw_chart()

    def _update_buttons(self, running: bool | None = None) -> None:
        if running is None:
            running = self.progress.isVisible()
        n = self.chosen.count()
        self.add_button.setEnabled(self.arch_combo.isEnabled() and n < MAX_MODELS)
        self.remove_button.setEnabled(n > 0)
        self.run_button.setEnabled(MIN_MODELS <= n <= MAX_MODELS and not running)
        self.cancel_button.setEnabled(running)

    def _on_run(self) -> None:
        names = self.selected()
        if MIN_MODELS <= len(names) <= MAX_MODELS:
            self.sigCompare.emit(names)

    # --- running ------------------------------------------------------------------------
    def set_running(self, running: bool, models: int = 0) -> None:
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, max(models, 1))
            self.progress.setValue(0)
            self.status.setText(f"Loading and running {models} models one after another…")
        self._update_buttons(running)

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.status.setText(f"Ran {done} of {total} models…")

    def show_error(self, message: str) -> None:
        self.set_running(False)
        self.status.setText(f"Comparison failed: {message}")

    def show_comparison(self, comparison: Comparison, input_name: str = "") -> None:
        """One column per model: its top-5 then its facts; agreement below."""
        self.comparison = comparison
        self.set_running(False)
        runs = comparison.runs
        what = f" on {input_name}" if input_name else ""
        if comparison.spec_text:
            what += f" (augmented: {comparison.spec_text}, seed {comparison.seed})"
        stopped = " Cancelled: only the models run before the cancel are shown." * bool(
            comparison.cancelled
        )
        self.status.setText(f"{len(runs)} models{what}.{stopped}")
        topk = max((len(r.top) for r in runs), default=0)
        self.table.clear()
        self.table.setColumnCount(len(runs))
        self.table.setRowCount(topk + len(FACT_ROWS))
        self.table.setHorizontalHeaderLabels([r.facts.display_name for r in runs])
        self.table.setVerticalHeaderLabels([f"top-{k + 1}" for k in range(topk)] + list(FACT_ROWS))
        shared = set(comparison.shared_labels)
        for j, run in enumerate(runs):
            for k, score in enumerate(run.top):
                item = QTableWidgetItem(f"{score.label}  {score.probability:.1%}")
                self._mark(item, run, k, score.label, shared, comparison.top1_differs)
                self.table.setItem(k, j, item)
            for i, text in enumerate(self._fact_cells(run)):
                item = QTableWidgetItem(text)
                if FACT_ROWS[i] == "weights" and run.weights.untrained:
                    item.setForeground(QColor(self._theme.warning_bg))
                self.table.setItem(topk + i, j, item)
        self.agreement.setText(self._agreement_text(comparison))
        self._fit_table()
        self.draw_chart()

    def _queue_fit(self, *_args: object) -> None:
        if not self._fit_queued:
            self._fit_queued = True
            QTimer.singleShot(0, self._fit_table)

    def _fit_table(self) -> None:
        """Exactly as tall as its rows: the facts never hide behind the table's scroll bar."""
        self._fit_queued = False
        self.table.resizeRowsToContents()
        rows = sum(self.table.rowHeight(i) for i in range(self.table.rowCount()))
        header = self.table.horizontalHeader().sizeHint().height()
        self.table.setFixedHeight(rows + header + 2 * self.table.frameWidth() + 2)

    def _fit_chosen(self) -> None:
        """One row of chosen models (a scroll bar when they do not fit)."""
        metrics = self.chosen.fontMetrics()
        scroll = self.chosen.horizontalScrollBar().sizeHint().height()
        self.chosen.setFixedHeight(metrics.lineSpacing() + scroll + 12)

    def _mark(
        self, item: QTableWidgetItem, run: ModelRun, k: int, label: str, shared: set, differs: bool
    ) -> None:
        truth = run.truth
        if truth is not None and label == truth.label:
            item.setBackground(QColor(self._theme.selection))
            item.setForeground(QColor("#000000"))
            item.setToolTip("the true class")
        elif k == 0 and differs:
            item.setBackground(QColor(self._theme.warning_bg))
            item.setForeground(QColor(self._theme.warning_fg))
            item.setToolTip("the models' top-1 classes differ")
        if label in shared:
            font = QFont(item.font())
            font.setBold(True)
            item.setFont(font)
            if not item.toolTip():
                item.setToolTip("in every model's top-5")

    def _fact_cells(self, run: ModelRun) -> list[str]:
        f = run.facts
        weights = (
            "RANDOM (untrained)" if run.weights.untrained else "real: " + run.weights.source.value
        )
        return [
            f"{run.forward_ms:.1f} on {run.device}",
            _count(f.params),
            _count(f.macs),
            str(f.depth),
            str(f.year),
            _published(f.top1_accuracy),
            _published(f.top5_accuracy),
            weights,
        ]

    def _agreement_text(self, comparison: Comparison) -> str:
        shared = comparison.shared_labels
        parts = [
            "<b>In every top-5:</b> " + (", ".join(shared) if shared else "no class"),
        ]
        names = [r.facts.display_name for r in comparison.runs]
        if comparison.top1_differs:
            says = "; ".join(
                f"{n}: {t}" for n, t in zip(names, comparison.top1_labels, strict=True)
            )
            color = self._theme.warning_bg
            parts.append(f"<b style='color:{color}'>Top-1 differs</b> — {says}")
        elif comparison.runs:
            parts.append(f"<b>Same top-1:</b> {comparison.top1_labels[0]}")
        truths = [
            f"{n}: rank {r.truth.rank}"
            for n, r in zip(names, comparison.runs, strict=True)
            if r.truth is not None
        ]
        if truths:
            parts.append(f"<b>True class {comparison.true_label}:</b> " + ", ".join(truths))
        return "<br>".join(parts)

    # --- the chart ----------------------------------------------------------------------
    def axis(self) -> str:
        return self.axis_combo.currentData()

    def draw_chart(self) -> None:
        """Every published model as a dot; the compared ones larger and named."""
        for text in self._texts:
            self.plot.removeItem(text)
        self._texts.clear()
        if self.zoo is None:
            return
        chart = self.zoo.chart(self.axis())
        wanted = set(self.selected())
        log_x = chart.log_x
        self.plot.setLogMode(x=log_x, y=False)
        xs = [p.x for p in chart.points]
        ys = [p.top1_error for p in chart.points]
        self.points.setData(xs, ys)
        marked = [p for p in chart.points if p.name in wanted]
        absent = [self._display(n) for n in self.selected() if n in chart.left_out]
        self.chart_note.setText(
            f"Not on the chart (no published accuracy): {', '.join(absent)}." if absent else ""
        )
        self.marked.setData([p.x for p in marked], [p.top1_error for p in marked])
        self._style_chart(chart)
        for p in marked:
            text = pg.TextItem(p.display_name, color=self._theme.foreground, anchor=(0, 1))
            text.setPos(math.log10(p.x) if log_x else p.x, p.top1_error)
            self.plot.addItem(text)
            self._texts.append(text)

    def chart_points(self) -> tuple[list[str], list[str]]:
        """(all names, highlighted names) on the chart now, for tests and the report."""
        if self.zoo is None:
            return [], []
        chart = self.zoo.chart(self.axis())
        wanted = set(self.selected())
        return [p.name for p in chart.points], [p.name for p in chart.points if p.name in wanted]

    def _style_chart(self, chart: ErrorChart) -> None:
        theme = self._theme
        self.points.setSymbolBrush(theme.muted)
        self.points.setSymbolPen(None)
        self.marked.setSymbolBrush(theme.accent)
        self.marked.setSymbolPen(pg.mkPen(theme.foreground, width=1.5))
        self.plot.setLabel("bottom", chart.x_label)
        self.plot.setLabel("left", "top-1 error (%)")

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        self._fit_chosen()
        self.plot.setBackground(theme.background)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen(theme.foreground)
            self.plot.getAxis(axis).setPen(theme.foreground)
            self.plot.getAxis(axis).setStyle(tickFont=self.font())
        self.draw_chart()
        if self.comparison is not None:
            self.show_comparison(self.comparison)
