"""Evaluate a folder of labelled images: top-1/top-5 error, per class, confusions, misses.

The panel collects the folder (or CSV) and draws an Evaluation; the controller
(cnnviz.qt.evaluate_controller) runs it. A click on a misclassified thumbnail asks for that
image to be opened in the main view (sigOpenImage).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnviz.qt.theme import NORMAL, Theme

if TYPE_CHECKING:
    from cnnviz.core.evaluate import Evaluation

PATH_ROLE = Qt.UserRole + 1
THUMB = 96
MAX_THUMBS = 60  # the gallery shows the first misses; the table counts them all
SKIPPED_SHOWN = 4


def _rate(misses: int, images: int) -> str:
    return f"{misses / images:.1%} ({misses}/{images})" if images else "—"


def error_text(e: Evaluation) -> str:
    """The headline: top-1 and top-5 error with their counts."""
    top1, top5 = _rate(e.top1_misses, e.images), _rate(e.top5_misses, e.images)
    return f"top-1 error {top1}   ·   top-5 error {top5}"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def skipped_text(e: Evaluation) -> str:
    """How many were skipped, and the first few with their (shortened) reasons."""
    if not e.skipped:
        return "Nothing skipped."
    names = ", ".join(
        f"{os.path.basename(s.path.rstrip('/'))} ({_short(s.reason)})"
        for s in e.skipped[:SKIPPED_SHOWN]
    )
    more = f", and {len(e.skipped) - SKIPPED_SHOWN} more" if len(e.skipped) > SKIPPED_SHOWN else ""
    return f"Skipped {len(e.skipped)}: {names}{more}."


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectRows)
    table.setSortingEnabled(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.Stretch)
    for j in range(1, len(headers)):
        header.setSectionResizeMode(j, QHeaderView.ResizeToContents)
    return table


class EvaluatePanel(QWidget):
    """Folder picker, Run/Cancel with progress, figures, tables and the gallery of misses."""

    sigRun = Signal(str, int)  # folder or CSV path, batch size
    sigCancel = Signal()
    sigOpenImage = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = NORMAL
        self.evaluation: Evaluation | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._build_source_row())
        self.status = QLabel(
            "Pick a folder with one sub-folder per class (named by class name or WordNet id), "
            "or a CSV file of path,label rows."
        )
        self.status.setWordWrap(True)
        self.headline = QLabel("")
        self.headline.setObjectName("panelTitle")
        self._fit_headline()
        self.headline.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.skipped = QLabel("")
        self.skipped.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addWidget(self.headline)
        layout.addWidget(self.skipped)
        layout.addWidget(self._build_results(), 1)

    def _build_source_row(self) -> QVBoxLayout:
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("Folder of class folders, or a .csv of path,label")
        self.path_edit.returnPressed.connect(self._on_run)
        self.folder_button = QPushButton("Folder…")
        self.folder_button.clicked.connect(self.pick_folder)
        self.csv_button = QPushButton("CSV…")
        self.csv_button.clicked.connect(self.pick_csv)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 256)
        self.batch_spin.setValue(16)
        self.batch_spin.setToolTip("Images per batch")
        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self._on_run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.sigCancel)
        self.progress = QProgressBar()
        self.progress.setMinimumWidth(120)
        self.progress.setFormat("%v / %m")
        self.progress.hide()
        source = QHBoxLayout()
        source.addWidget(self.path_edit, 1)
        source.addWidget(self.folder_button)
        source.addWidget(self.csv_button)
        run = QHBoxLayout()
        run.addWidget(QLabel("Batch"))
        run.addWidget(self.batch_spin)
        for widget in (self.run_button, self.cancel_button, self.progress):
            run.addWidget(widget)
        run.addStretch(1)
        rows = QVBoxLayout()
        rows.addLayout(source)
        rows.addLayout(run)
        return rows

    def _build_results(self) -> QWidget:
        self.per_class = _table(["Class", "Images", "Top-1 error", "Top-5 error"])
        self.confused = _table(["True class", "Predicted", "Images"])
        self.confused.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListView.IconMode)
        self.gallery.setIconSize(QSize(THUMB, THUMB))
        self.gallery.setResizeMode(QListView.Adjust)
        self.gallery.setMovement(QListView.Static)
        self.gallery.setWordWrap(True)
        self.gallery.setSpacing(4)
        self._fit_gallery()
        self.gallery.setToolTip("Misclassified images: click one to open it in the main view")
        self.gallery.itemClicked.connect(self._on_thumb)
        tables = QSplitter(Qt.Horizontal)
        tables.addWidget(_titled("Per class", self.per_class))
        tables.addWidget(_titled("Most confused (true → predicted)", self.confused))
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(tables)
        self.gallery_title = QLabel("Misclassified images")
        splitter.addWidget(_titled(self.gallery_title, self.gallery))
        return splitter

    # --- input ------------------------------------------------------------------------
    def path(self) -> str:
        return self.path_edit.text().strip()

    def set_path(self, path: str) -> None:
        self.path_edit.setText(path)

    def pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of class folders", self.path())
        if path:
            self.set_path(path)

    def pick_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "CSV of path,label", self.path(), "CSV files (*.csv)"
        )
        if path:
            self.set_path(path)

    def _on_run(self) -> None:
        if self.path():
            self.sigRun.emit(self.path(), self.batch_spin.value())

    def _on_thumb(self, item: QListWidgetItem) -> None:
        self.sigOpenImage.emit(item.data(PATH_ROLE))

    # --- running ----------------------------------------------------------------------
    def set_running(self, running: bool, what: str = "") -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)  # busy until the first batch reports
            self.status.setText(what or "Evaluating…")

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.status.setText(f"Classified {done} of {total} images…")

    def show_error(self, message: str) -> None:
        self.set_running(False)
        self.status.setText(f"Evaluation failed: {message}")

    def show_evaluation(self, e: Evaluation, model: str = "") -> None:
        """Figures, per-class table, confusions and the gallery of misses."""
        self.evaluation = e
        self.set_running(False)
        who = f"{model} on " if model else ""
        augment = f", augmented: {e.spec_text} (seed {e.seed})" if e.spec_text else ""
        state = (
            f"Cancelled after {e.images} of {e.total} images: the figures cover those only."
            if e.cancelled
            else f"{e.images} images in {e.elapsed_s:.1f} s ({e.images_per_s:.1f} images/s)."
        )
        self.status.setText(f"{who}{e.source}{augment}. {state}")
        self.headline.setText(error_text(e))
        self.skipped.setText(skipped_text(e))
        self.skipped.setToolTip("\n".join(f"{s.path}: {s.reason}" for s in e.skipped))
        self._fill_per_class(e)
        self._fill_confused(e)
        self._fill_gallery(e)

    def _fill_per_class(self, e: Evaluation) -> None:
        self.per_class.setRowCount(len(e.per_class))
        for i, c in enumerate(e.per_class):
            cells = [c.label, str(c.images), _rate(c.top1_misses, c.images)]
            cells.append(_rate(c.top5_misses, c.images))
            _fill_row(self.per_class, i, cells)

    def _fill_confused(self, e: Evaluation) -> None:
        self.confused.setRowCount(len(e.most_confused))
        for i, p in enumerate(e.most_confused):
            _fill_row(self.confused, i, [p.true_label, p.predicted, str(p.count)])

    def _fill_gallery(self, e: Evaluation) -> None:
        self.gallery.clear()
        shown = e.misclassified[:MAX_THUMBS]
        more = len(e.misclassified) - len(shown)
        self.gallery_title.setText(
            f"Misclassified images ({len(e.misclassified)}"
            + (f", first {len(shown)} shown" if more else "")
            + ") — click one to open it"
        )
        for m in shown:
            item = QListWidgetItem(_thumbnail(m.path), f"{m.true_label}\n→ {m.predicted}")
            item.setData(PATH_ROLE, m.path)
            item.setToolTip(
                f"{m.path}\ntrue: {m.true_label} (rank {m.true_rank}, "
                f"p = {m.true_probability:.2%})\npredicted: {m.predicted} ({m.probability:.1%})"
            )
            self.gallery.addItem(item)

    def _fit_headline(self) -> None:
        """The error figures a size above the application font (which the theme sets)."""
        font = QApplication.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.25)
        self.headline.setFont(font)

    def _fit_gallery(self) -> None:
        """A grid cell for a thumbnail and up to three lines of "true → predicted"."""
        metrics = self.gallery.fontMetrics()
        width = max(THUMB, metrics.horizontalAdvance("→ military uniform")) + 16
        self.gallery.setGridSize(QSize(width, THUMB + 3 * metrics.lineSpacing() + 16))

    def apply_theme(self, theme: Theme) -> None:
        self._theme = theme
        self._fit_headline()
        self._fit_gallery()


def _titled(title: str | QLabel, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(title if isinstance(title, QLabel) else QLabel(title))
    layout.addWidget(widget, 1)
    return box


def _fill_row(table: QTableWidget, row: int, cells: list[str]) -> None:
    for j, text in enumerate(cells):
        item = QTableWidgetItem(text)
        if j > 0 and text[:1].isdigit():
            item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
        table.setItem(row, j, item)


def _thumbnail(path: str) -> QIcon:
    """A small icon read at thumbnail size (Qt decodes JPEGs scaled, cheaply)."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid():
        reader.setScaledSize(size.scaled(THUMB, THUMB, Qt.KeepAspectRatio))
    image = reader.read()
    return QIcon(QPixmap.fromImage(image)) if not image.isNull() else QIcon()
