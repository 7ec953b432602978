"""Wires the augmentation lab and the sweep panel into the main window.

Nothing here imports torch at module level: the panels (which need torchvision's
catalogue) are built on first use, which is the window's first submit (torch is loaded
by then) or at once when the window has already started.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject, Qt, QTimer, Slot
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cnnviz.qt.worker import Ticket

R = TypeVar("R")

if TYPE_CHECKING:
    from cnnviz.core.analysis import AnalysisResult
    from cnnviz.core.augment.spec import AugmentSettings
    from cnnviz.core.requests import Request
    from cnnviz.qt.main_window import MainWindow
    from cnnviz.qt.panels.augment_panel import AugmentLabPanel
    from cnnviz.qt.panels.sweep_panel import SweepPanel


class AugmentLabController(QObject):
    """Owns the lab and sweep docks; feeds the pipeline into every analysis request."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.lab: AugmentLabPanel | None = None
        self.sweeps: SweepPanel | None = None
        self.job_ticket: Ticket | None = None  # the running sweep or stability count
        self._pending_spec: tuple[str, int | None, str | None] | None = None
        self._submit_queued = False
        self.lab_host, self.sweep_host = _Host("augmentation lab"), _Host("sweeps")
        # The lab is the Augment workspace's star; the sweeps sit beside it.
        window.add_workspace("Augment", self.lab_host, shortcut="Ctrl+3")
        self.sweep_dock = window.add_dock(
            "Sweep and stability",
            self.sweep_host,
            Qt.RightDockWidgetArea,
            workspace="Augment",
            narrow_area=Qt.BottomDockWidgetArea,
        )
        window.augment_settings = self.settings
        window.sigResultShown.connect(self._on_result_shown)
        if window.worker_thread is not None:
            self.ensure_built()

    # --- building ---------------------------------------------------------------------
    def ensure_built(self) -> None:
        """Build the panels (imports torchvision's catalogue) and connect to the worker."""
        if self.lab is None:
            from cnnviz.qt.panels.augment_panel import AugmentLabPanel
            from cnnviz.qt.panels.sweep_panel import SweepPanel

            self.lab = AugmentLabPanel()
            self.sweeps = SweepPanel()
            self.lab_host.set_content(self.lab)
            self.sweep_host.set_content(self.sweeps)
            self.lab.current_image = self.window.image_source
            if self._pending_spec is not None:
                # Applied before connecting: the request being built carries it already.
                text, seed, mix = self._pending_spec
                self._pending_spec = None
                self._apply_spec(text, seed, mix)
                self.sweeps.set_pipeline(self.lab.spec)
            self.lab.sigPipelineChanged.connect(self._on_pipeline_changed)
            self.lab.sigCopied.connect(self._on_copied)
            self.sweeps.sigRunSweep.connect(self.run_sweep)
            self.sweeps.sigRunStability.connect(self.run_stability)
            self.sweeps.sigCancel.connect(self.cancel)
            for panel in (self.lab, self.sweeps):
                self.window.themed_widgets.append(panel)
                panel.apply_theme(self.window.theme)

    # --- the pipeline -------------------------------------------------------------------
    def set_spec(self, text: str, seed: int | None = None, mix: str | None = None) -> bool:
        """Load spec text (a seed, a second image) into the lab, e.g. `cnnviz gui --augment`.

        Before the window has started this is remembered and applied on first use.
        Returns False (and shows the message) when the spec is invalid.
        """
        if self.lab is None and self.window.worker_thread is None:
            self._pending_spec = (text, seed, mix)
            return True
        self.ensure_built()
        return self._apply_spec(text, seed, mix)

    def _apply_spec(self, text: str, seed: int | None, mix: str | None = None) -> bool:
        assert self.lab is not None
        if mix is not None:
            self.lab.mix_picker.set_path(str(mix), emit=False)
        if seed is not None:
            self.lab.set_seed(seed, emit=False)  # set_spec_text below re-runs anyway
        ok = self.lab.set_spec_text(text)
        if not ok:
            self.lab.spec_edit.setText(text)
            self.window.show_error(f"Augmentation spec not applied: {self.lab.error}")
        return ok

    def settings(self) -> AugmentSettings | None:
        """What the lab adds to an analysis request: the parsed pipeline, seed, second image."""
        self.ensure_built()
        lab = self.lab
        if lab is None or not len(lab.spec):
            return None
        from cnnviz.core.augment.spec import AugmentSettings

        return AugmentSettings(lab.spec, lab.seed_for_update(), lab.mix_source())

    def _on_pipeline_changed(self) -> None:
        assert self.lab is not None and self.sweeps is not None
        self.sweeps.set_pipeline(self.lab.spec)
        if not self._submit_queued:  # many changes in one event-loop turn: one submit
            self._submit_queued = True
            QTimer.singleShot(0, self._flush)

    def _flush(self) -> None:
        self._submit_queued = False
        self.window.submit()

    @Slot(object)
    def _on_result_shown(self, result: AnalysisResult) -> None:
        self.ensure_built()
        assert self.lab is not None
        self.lab.current_image = self.window.image_source
        self.lab.show_result(result)

    def _on_copied(self, _code: str) -> None:
        self.window.statusBar().showMessage("Augmentation pipeline copied as Python code", 3000)

    # --- sweeps and stability -----------------------------------------------------------
    def _fixed_settings(self) -> AugmentSettings:
        from cnnviz.core.augment.spec import AugmentSettings

        assert self.lab is not None
        return AugmentSettings(self.lab.spec, self.lab.seed, self.lab.mix_source())

    def run_sweep(self, transform_index: int, param: str, values: tuple[float, ...]) -> None:
        """Sweep `param` of the pipeline's transform `transform_index` on the worker."""
        from cnnviz.core.augment.requests import SweepRequest

        if self.window.image_source is None:
            return
        request = SweepRequest(
            self.window.model_key(),
            self.window.image_source,
            self._fixed_settings(),
            transform_index,
            param,
            tuple(values),
        )
        self._send(request, lambda outcome: self._sweeps().show_sweep(outcome))

    def run_stability(self, samples: int) -> None:
        """Count top-1s over `samples` draws of the pipeline on the worker."""
        from cnnviz.core.augment.requests import StabilityRequest

        if self.window.image_source is None:
            return
        request = StabilityRequest(
            self.window.model_key(), self.window.image_source, self._fixed_settings(), samples
        )
        self._send(request, lambda outcome: self._sweeps().show_stability(outcome))

    def _sweeps(self) -> SweepPanel:
        assert self.sweeps is not None
        return self.sweeps

    def _send(self, request: Request[R], show: Callable[[R], None]) -> None:
        worker = self.window.worker_thread
        if worker is None:
            return
        sweeps = self._sweeps()
        sweeps.set_running(True)
        self.job_ticket = worker.submit(
            request,
            show,
            on_failed=lambda failure: sweeps.show_error(failure.message),
            on_progress=lambda _what, done, total: sweeps.show_progress(done, total),
        )
        self.window.track_job(self.job_ticket)

    def cancel(self) -> None:
        """Stop the running sweep or stability count (only that) at its next batch."""
        if self.window.worker_thread is not None:
            self.window.worker_thread.cancel(self.job_ticket)


class _Host(QWidget):
    """A dock's content: a placeholder until the real panel is built."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.placeholder = QLabel(f"Loading the {what}…")
        self.placeholder.setAlignment(Qt.AlignCenter)
        self._layout.addWidget(self.placeholder)

    def set_content(self, widget: QWidget) -> None:
        """Replace the placeholder with `widget`."""
        self.placeholder.hide()
        self._layout.addWidget(widget)


def install_augment_lab(window: MainWindow) -> AugmentLabController:
    """Add the lab and sweep docks to `window` once; later calls return the same controller."""
    controller = getattr(window, "augment_lab", None)
    if controller is None:
        controller = AugmentLabController(window)
        window.augment_lab = controller
    return controller
