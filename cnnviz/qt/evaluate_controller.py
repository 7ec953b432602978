"""Wires the Evaluate workspace: a folder (or CSV) through the window's model, in batches.

The evaluation runs the model the window shows (the Session's engine, never a second copy)
through the current augmentation pipeline, if one is set, in the long lane "evaluate"; Esc
or Cancel stops it between batches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from cnnviz.qt.panels.evaluate_panel import EvaluatePanel
from cnnviz.qt.worker import Ticket

if TYPE_CHECKING:
    from cnnviz.core.evaluate import Evaluation
    from cnnviz.qt.main_window import MainWindow


class EvaluateController(QObject):
    """Owns the Evaluate panel and its one running job."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.panel = EvaluatePanel()
        self.ticket: Ticket | None = None
        self.workers: int | None = None  # decoding processes (None: the core's default)
        window.add_workspace("Evaluate", self.panel, shortcut="Ctrl+6")
        window.themed_widgets.append(self.panel)
        self.panel.sigRun.connect(self.run)
        self.panel.sigCancel.connect(self.cancel)
        self.panel.sigOpenImage.connect(self._open_image)

    def run(self, source: str, batch_size: int = 16) -> None:
        """Evaluate `source` with the window's model and current augmentation."""
        worker = self.window.worker_thread
        if worker is None:
            return
        from cnnviz.core.evaluate_requests import EvaluateRequest

        latest = self.window.latest_request
        augment = latest.augment if latest is not None else self.window.augment_settings()
        key = self.window.model_key()
        request = EvaluateRequest(key, source, augment, batch_size, self.workers)
        self.panel.set_running(True, f"Evaluating {source} with {key.arch}…")
        self.ticket = worker.submit(
            request,
            lambda e: self._on_result(key.arch, e),
            on_failed=lambda failure: self.panel.show_error(failure.message),
            on_progress=lambda _what, done, total: self.panel.show_progress(done, total),
        )
        self.window.track_job(self.ticket)

    def _on_result(self, arch: str, evaluation: Evaluation) -> None:
        self.panel.show_evaluation(evaluation, arch)

    def cancel(self) -> None:
        """Stop the running evaluation at its next batch (it shows what it counted)."""
        if self.window.worker_thread is not None:
            self.window.worker_thread.cancel(self.ticket)

    def _open_image(self, path: str) -> None:
        self.window.open_image(path)


def install_evaluate(window: MainWindow) -> EvaluateController:
    """Add the Evaluate workspace to `window` once."""
    controller = getattr(window, "evaluate", None)
    if controller is None:
        controller = EvaluateController(window)
        window.evaluate = controller
    return controller
