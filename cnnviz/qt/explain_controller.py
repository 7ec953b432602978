"""Wires the Explain workspace into the main window: what is shown → requests → panel.

Explanations follow the window's shown analysis (model, image and the lab's pipeline), so
with a flip in the lab the flipped input is explained. Work for the Explain workspace is
only done while it is current: requests go out when it becomes current and whenever a new
analysis is shown while it is. Nothing here imports torch at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from cnnviz.qt.panels.explain_panel import ExplainPanel
from cnnviz.qt.worker import Failure, Ticket

if TYPE_CHECKING:
    from cnnviz.core.analysis import AnalysisResult
    from cnnviz.core.explain.compare import OccluderProbe
    from cnnviz.core.explain.requests import CamLayers, ExplainInput, ExplainView
    from cnnviz.core.explain.sanity import SanityCheck
    from cnnviz.core.requests import ModelKey
    from cnnviz.qt.main_window import MainWindow

WORKSPACE = "Explain"


class ExplainController(QObject):
    """Owns the Explain panel; submits explain, occluder and sanity requests."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.panel = ExplainPanel()
        window.add_workspace(WORKSPACE, self.panel, shortcut="Ctrl+4")
        window.themed_widgets.append(self.panel)
        self.sent: tuple[object, ...] | None = None  # what the last explain request asked
        self.shown_key: tuple[object, ...] | None = None  # what the shown view answers
        self.job: Ticket | None = None  # the running occlusion or sanity check
        self._image: object = None
        self._layers_for: ModelKey | None = None  # whose CAM layers the panel lists
        window.sigWorkspaceChanged.connect(self._on_workspace)
        window.sigResultShown.connect(self._on_result_shown)
        self.panel.sigChanged.connect(self.refresh)
        self.panel.sigProbe.connect(self.probe)
        self.panel.sigSanity.connect(self.run_sanity)
        self.panel.sigCancel.connect(self.cancel)

    @property
    def current(self) -> bool:
        return self.window.workspace == WORKSPACE

    def source(self) -> ExplainInput | None:
        """The model, image and lab settings of the analysis on screen."""
        request = self.window.shown_request
        if request is None or request.image is None:
            return None
        from cnnviz.core.explain.requests import ExplainInput

        return ExplainInput(request.model, request.image, request.augment)

    # --- following the window --------------------------------------------------------------
    @Slot(str)
    def _on_workspace(self, name: str) -> None:
        if name == WORKSPACE:
            self._show_input()
            self._ask_layers()
            self.refresh()

    @Slot(object)
    def _on_result_shown(self, result: AnalysisResult) -> None:
        request = self.window.shown_request
        image = request.image if request is not None else None
        if image != self._image:  # a new picture: back to its top-1
            self._image = image
            self.panel.set_target(None, emit=False)
        if self.current:
            self._show_input(result)
            self._ask_layers()
            self.refresh()

    def _ask_layers(self) -> None:
        """The CAM layers of the shown model, once per model."""
        request = self.window.shown_request
        worker = self.window.worker_thread
        if request is None or worker is None or request.model == self._layers_for:
            return
        from cnnviz.core.explain.requests import CamLayersRequest

        self._layers_for = request.model
        worker.submit(CamLayersRequest(request.model), self._on_layers, on_failed=self._on_failed)

    def _on_layers(self, layers: CamLayers) -> None:
        shown = self.window.shown_request
        if shown is not None and shown.model == layers.model:
            self.panel.set_layers(layers.names, layers.default)

    def _show_input(self, result: AnalysisResult | None = None) -> None:
        result = result or self.window.shown_result
        prediction = result.prediction if result is not None else None
        if prediction is not None:
            self.panel.show_input(prediction.model_input, prediction.top)

    # --- requests ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Ask for the maps the panel's mode needs, unless they are on their way already."""
        worker, source, panel = self.window.worker_thread, self.source(), self.panel
        if worker is None or source is None or not self.current:
            return
        if panel.mode == "occluder":
            self.probe(*panel.occluder.position())
            return
        if panel.mode == "sanity":
            return
        methods = panel.methods()
        if not methods:
            panel.show_error("Tick at least one method.")
            return
        from cnnviz.core.explain.methods import ExplainOptions
        from cnnviz.core.explain.requests import explain_request

        versus = self._versus() if panel.mode == "contrast" else None
        options = ExplainOptions(**panel.options())  # type: ignore[arg-type]
        layer = panel.cam_layer()
        key = (source, panel.mode, methods, panel.target, versus, options, layer)
        if key == self.sent:
            return
        self.sent = key
        request = explain_request(
            source, methods, target=panel.target, versus=versus, layer=layer, options=options
        )
        ticket = worker.submit(
            request,
            lambda view: self._on_view(key, view, finishes_job=request.long),
            on_failed=self._on_failed,
            on_progress=lambda _what, done, total: panel.show_progress(done, total),
        )
        if request.long:
            self._track(ticket)

    def _versus(self) -> int | str | None:
        typed = self.panel.versus()
        if typed is not None:
            return typed
        view = self.panel.view
        top = view.top if view is not None else self.panel.base_top
        chosen = (
            self.panel.target if self.panel.target is not None else (top[0].index if top else None)
        )
        others = [c.index for c in top if c.index != chosen]
        return others[0] if others else None

    def _on_view(self, key: tuple[object, ...], view: ExplainView, *, finishes_job: bool) -> None:
        self.shown_key = key
        if finishes_job:  # a quick map arriving meanwhile leaves a long job's Cancel shown
            self.panel.set_running(False)
        self.panel.show_view(view)

    def _on_failed(self, failure: Failure) -> None:
        self.sent = None  # the same settings may be tried again
        self.panel.set_running(False)
        self.panel.show_error(failure.message)

    def probe(self, top: int, left: int, size: int) -> None:
        """The top-5 with the grey square at (top, left): one forward, newest wins."""
        worker, source = self.window.worker_thread, self.source()
        if worker is None or source is None or not self.current:
            return
        from cnnviz.core.explain.requests import OccluderRequest

        worker.submit(
            OccluderRequest(source, top, left, size),
            self.panel.show_probe,
            on_failed=self._on_failed,
        )

    def run_sanity(self) -> None:
        """Cascading randomisation for the panel's method and class, as a long job."""
        worker, source, panel = self.window.worker_thread, self.source(), self.panel
        if worker is None or source is None:
            return
        from cnnviz.core.explain.methods import ExplainOptions
        from cnnviz.core.explain.requests import SanityRequest

        request = SanityRequest(
            source,
            panel.method,
            panel.target,
            options=ExplainOptions(**panel.options()),  # type: ignore[arg-type]
            max_steps=panel.sanity_blocks.value(),
            layer=panel.cam_layer(),
        )
        ticket = worker.submit(
            request,
            self._on_sanity,
            on_failed=self._on_failed,
            on_progress=lambda _what, done, total: panel.show_progress(done, total),
        )
        self._track(ticket)

    def _on_sanity(self, check: SanityCheck) -> None:
        self.panel.set_running(False)
        self.panel.show_sanity(check)

    def _on_probe(self, probe: OccluderProbe) -> None:
        self.panel.show_probe(probe)

    def _track(self, ticket: Ticket) -> None:
        self.job = ticket
        self.panel.set_running(True)
        self.window.track_job(ticket)

    def cancel(self) -> None:
        """Stop the running occlusion or sanity check at its next batch."""
        if self.window.worker_thread is not None:
            self.window.worker_thread.cancel(self.job)


def install_explain(window: MainWindow) -> ExplainController:
    """Add the Explain workspace to `window` once; later calls return the same controller."""
    controller = getattr(window, "explain", None)
    if controller is None:
        controller = ExplainController(window)
        window.explain = controller
    return controller
