"""Pre-training vs fine-tuning: a new linear head for new classes on a frozen backbone."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnviz.qt.panels.teach_common import RunRow, ThemedPlot, note
from cnnviz.qt.theme import Theme

if TYPE_CHECKING:
    from cnnviz.core.teach.finetune import FineTuneResult

HOW = (
    "Give a folder with one sub-folder of images per new class (2 or more). The backbone stays "
    "frozen: each image's features are computed once, then only a new linear layer is trained."
)


class FineTunePanel(QWidget):
    """Folder, epochs and hold-out; the loss and accuracy curves; use the head."""

    sigRun = Signal(str, int, float)  # folder, epochs, hold-out fraction
    sigUseHead = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: FineTuneResult | None = None
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("folder of class folders")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 10_000)
        self.epochs_spin.setValue(200)
        self.holdout_spin = QDoubleSpinBox()
        self.holdout_spin.setRange(0.0, 0.9)
        self.holdout_spin.setSingleStep(0.05)
        self.holdout_spin.setValue(0.25)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        row.addWidget(QLabel("epochs"))
        row.addWidget(self.epochs_spin)
        row.addWidget(QLabel("held out"))
        row.addWidget(self.holdout_spin)
        self.run_row = RunRow("Fine-tune")
        self.run_row.sigRun.connect(self._run)
        self.use_button = QPushButton("Predict these classes in the main view")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.sigUseHead.emit)
        self.run_row.layout().insertWidget(3, self.use_button)
        self.text = note(HOW)
        self.plot = ThemedPlot("Training loss and accuracy per epoch")
        self.plot.setLabel("bottom", "epoch")
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.run_row)
        layout.addWidget(self.text)
        layout.addWidget(self.plot, 1)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of class folders")
        if folder:
            self.folder_edit.setText(folder)

    def _run(self) -> None:
        folder = self.folder_edit.text().strip()
        if not folder:
            self.text.setText("Choose a folder of class folders first. " + HOW)
            return
        self.sigRun.emit(folder, self.epochs_spin.value(), self.holdout_spin.value())

    def set_running(self, running: bool) -> None:
        self.run_row.set_running(running)
        if running:
            self.use_button.setEnabled(False)

    def show_progress(self, done: int, total: int) -> None:
        self.run_row.show_progress(done, total)

    def show_error(self, message: str) -> None:
        self.set_running(False)
        self.text.setText(f"Fine-tune failed: {message}")

    def show_result(self, result: FineTuneResult) -> None:
        self.set_running(False)
        self.result = result
        if result.cancelled:
            self.text.setText("Fine-tune cancelled.")
            self._draw()
            return
        held = (
            f"held-out accuracy {result.heldout_accuracy:.0%} on {result.heldout_count} images"
            if result.heldout_accuracy is not None
            else "no images held out"
        )
        chance = 1 / len(result.head.classes)
        self.text.setText(
            f"Classes: {', '.join(result.head.classes)}. Train accuracy "
            f"{result.train_accuracy:.0%} on {result.train_count} images, {held} (chance "
            f"{chance:.0%}). {len(result.skipped)} files skipped."
        )
        self.use_button.setEnabled(True)
        self._draw()

    def _draw(self) -> None:
        self.plot.clear()
        result = self.result
        if result is None or not result.losses:
            return
        theme = self.plot.theme
        self.plot.addLegend(offset=(5, 5))
        epochs = np.arange(1, len(result.losses) + 1)
        self.plot.plot(
            epochs, result.losses, name="loss", pen=pg.mkPen(theme.pair[0], width=theme.line_width)
        )
        self.plot.plot(
            epochs,
            result.train_accuracies,
            name="train accuracy",
            pen=pg.mkPen(theme.pair[1], width=theme.line_width),
        )

    def apply_theme(self, theme: Theme) -> None:
        self.plot.apply_theme(theme)
        self._draw()
