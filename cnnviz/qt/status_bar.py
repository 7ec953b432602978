"""The status bar: model, weights source, device and forward time, plus progress and Cancel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar

if TYPE_CHECKING:
    from cnnviz.core.session import ModelSummary


class StatusPanel:
    """Permanent labels on the right of a QStatusBar, a progress bar and a Cancel button."""

    def __init__(self, bar: QStatusBar, on_cancel: Callable[[], None]) -> None:
        self.bar = bar
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel the download or sweep (Esc)")
        self.cancel_button.clicked.connect(on_cancel)
        self.cancel_button.hide()
        self.labels = {key: QLabel() for key in ("model", "weights", "device", "time")}
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        for label in self.labels.values():
            label.setContentsMargins(8, 0, 8, 0)
            bar.addPermanentWidget(label)

    def set_busy(self, text: str | None) -> None:
        """An indeterminate progress bar with `text`; None clears both."""
        if text is None:
            self.progress.hide()
            self.cancel_button.hide()
            self.bar.clearMessage()
            return
        self.progress.setRange(0, 0)
        self.progress.show()
        self.bar.showMessage(text)

    def show_progress(self, text: str, done: int, total: int) -> None:
        """Bytes (or steps) done of total (0: unknown), with Cancel offered."""
        self.cancel_button.show()
        self.progress.setRange(0, total if total else 0)
        self.progress.setValue(done)
        mb = f"{done / 1e6:.1f} / {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
        self.bar.showMessage(f"{text}: {mb}")

    def show_model(self, model: ModelSummary) -> None:
        weights = model.weights
        self.labels["model"].setText(model.display_name)
        # The file name goes in the tooltip: a long name would make the window wider than
        # a 1024-pixel projector.
        self.labels["weights"].setText(f"weights {weights.source.value}")
        path = f"{Path(weights.path).name}\n" if weights.path else ""
        self.labels["weights"].setToolTip(f"{path}{weights.description}\nsha256 {weights.sha256}")
        self.labels["device"].setText(f"device {model.device}")

    def show_forward_time(self, milliseconds: float) -> None:
        self.labels["time"].setText(f"forward {milliseconds:.0f} ms")
