"""Wires the Compare workspace: 2–4 models on the window's image and augmentation.

Work for the hidden workspace is not done: the zoo's facts are asked for when Compare first
becomes current, and a comparison reruns on its own only while Compare is current (when it
becomes current, or a new result is shown) and the input changed since the last one. The
compared models are loaded one at a time on the worker and freed after use; the window's
own model is borrowed, never evicted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from cnnviz.qt.panels.compare_panel import MAX_MODELS, MIN_MODELS, ComparePanel
from cnnviz.qt.worker import Ticket

if TYPE_CHECKING:
    from cnnviz.core.analysis import AnalysisResult
    from cnnviz.core.compare.requests import ZooFacts
    from cnnviz.core.compare.run import Comparison
    from cnnviz.core.requests import ModelKey
    from cnnviz.qt.main_window import MainWindow

WORKSPACE = "Compare"
SECOND_MODELS = ("resnet18", "efficientnet_lite0")  # the first not shown is proposed


class CompareController(QObject):
    """Owns the Compare panel, its zoo facts and its one running comparison."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.panel = ComparePanel()
        self.ticket: Ticket | None = None
        self.zoo: ZooFacts | None = None
        self._asked_zoo = False
        self._compared: tuple[object, ...] | None = None  # the input of the last comparison
        window.add_workspace(WORKSPACE, self.panel, shortcut="Ctrl+5")
        window.themed_widgets.append(self.panel)
        self.panel.sigCompare.connect(self.run)
        self.panel.sigCancel.connect(self.cancel)
        window.sigWorkspaceChanged.connect(self._on_workspace)
        window.sigResultShown.connect(self._on_result_shown)

    # --- when to work ---------------------------------------------------------------
    @Slot(str)
    def _on_workspace(self, name: str) -> None:
        if name == WORKSPACE:
            self.ensure_zoo()
            self._rerun_if_stale()

    @Slot(object)
    def _on_result_shown(self, _result: AnalysisResult) -> None:
        if self.window.workspace == WORKSPACE:
            self.ensure_zoo()  # Compare may be current from the start, before the worker
            self._rerun_if_stale()

    def ensure_zoo(self) -> None:
        """Ask the worker for the zoo's facts once (the picker and chart need them)."""
        worker = self.window.worker_thread
        if self._asked_zoo or worker is None:
            return
        from cnnviz.core.compare.requests import ZooFactsRequest

        self._asked_zoo = True
        if not self.panel.selected():
            second = next(m for m in SECOND_MODELS if m != self.window.arch)
            self.panel.set_selected([self.window.arch, second])
        worker.submit(
            ZooFactsRequest(),
            self._on_zoo,
            on_failed=lambda failure: self.panel.show_error(failure.message),
        )

    def _on_zoo(self, zoo: ZooFacts) -> None:
        self.zoo = zoo
        self.panel.set_zoo(zoo)

    def _input(self) -> tuple[object, ...] | None:
        request = self.window.shown_request
        if request is None or request.image is None:
            return None
        return (request.image, request.augment, self._true_label())

    def _rerun_if_stale(self) -> None:
        names = self.panel.selected()
        if self._compared is None or not MIN_MODELS <= len(names) <= MAX_MODELS:
            return  # the first comparison is the user's to start
        if self._input() != self._compared[1:]:
            self.run(names)

    # --- running --------------------------------------------------------------------
    def _key(self, arch: str) -> ModelKey:
        from cnnviz.core.requests import ModelKey

        shown = self.window.shown_request
        if shown is not None and shown.model.arch == arch:
            return shown.model  # the window's model: borrowed on the worker, not reloaded
        return ModelKey(arch, device=self.window.device)

    def _true_label(self) -> str | None:
        truth = getattr(self.window, "true_label", None)
        label = truth.panel.label() if truth is not None else ""
        return label or None

    def run(self, names: tuple[str, ...]) -> None:
        """Compare `names` on the window's shown image and augmentation."""
        worker = self.window.worker_thread
        shown = self.window.shown_request
        if worker is None or shown is None or shown.image is None:
            return
        from cnnviz.core.compare.requests import CompareRequest

        names = tuple(names)
        request = CompareRequest(
            tuple(self._key(n) for n in names), shown.image, shown.augment, self._true_label()
        )
        self._compared = (names, *(self._input() or ()))
        self.panel.set_running(True, len(names))
        image_name = shown.image_name
        self.ticket = worker.submit(
            request,
            lambda comparison: self._on_comparison(comparison, image_name),
            on_failed=lambda failure: self.panel.show_error(failure.message),
            on_progress=lambda _what, done, total: self.panel.show_progress(done, total),
        )
        self.window.track_job(self.ticket)

    def _on_comparison(self, comparison: Comparison, image_name: str) -> None:
        self.panel.show_comparison(comparison, image_name)

    def cancel(self) -> None:
        """Stop the comparison before its next model."""
        if self.window.worker_thread is not None:
            self.window.worker_thread.cancel(self.ticket)


def install_compare(window: MainWindow) -> CompareController:
    """Add the Compare workspace to `window` once."""
    controller = getattr(window, "compare", None)
    if controller is None:
        controller = CompareController(window)
        window.compare = controller
    return controller
