"""The main window: pickers, image views and predictions, wired to the worker."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QTabBar,
    QToolBar,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from cnnviz.defaults import DEFAULT_ARCH
from cnnviz.qt import image_input, layout, menus
from cnnviz.qt.banner import Banner
from cnnviz.qt.model_picker import ArchPicker, DevicePicker
from cnnviz.qt.panels.image_panel import ImagePanel
from cnnviz.qt.panels.predictions import PredictionsPanel, Row
from cnnviz.qt.panels.strip import CompactStrip
from cnnviz.qt.status_bar import StatusPanel
from cnnviz.qt.theme import NORMAL, PRESENTATION, Theme, apply_theme, control_style
from cnnviz.qt.worker import Failure, Ticket, WorkerThread, freeze_startup_objects
from cnnviz.qt.workspaces import Workspaces
from cnnviz.resources_path import default_sample, samples

if TYPE_CHECKING:
    from cnnviz.core.analysis import AnalysisRequest, AnalysisResult
    from cnnviz.core.augment.spec import AugmentSettings
    from cnnviz.core.inspect.settings import LayerSettings
    from cnnviz.core.requests import ImageSource, ModelKey
    from cnnviz.core.session import ModelSummary
    from cnnviz.core.zoo.catalog import Catalog

MAX_RECENT = 8
QUIT_WAIT_MS = 800


class Themed(Protocol):
    def apply_theme(self, theme: Theme) -> None: ...


@dataclass
class StartOptions:
    arch: str | None = None
    image: str | None = None
    weights: str | None = None
    device: str | None = None
    presentation: bool | None = None
    augment: str | None = None
    seed: int = 0
    mix: str | None = None
    layer: str | None = None
    workspace: str | None = None


class MainWindow(QMainWindow):
    """Every user action becomes a request to the worker; only the newest result is shown."""

    sigResultShown = Signal(object)  # the AnalysisResult now on screen
    sigErrorShown = Signal(str)
    sigAnalysisFailed = Signal(object)  # the Failure of the newest analysis request
    sigWorkspaceChanged = Signal(str)  # the workspace now current
    sigFirstPaint = Signal()

    def __init__(self, options: StartOptions | None = None, settings: QSettings | None = None):
        super().__init__()
        self.options = options or StartOptions()
        self.settings = settings or QSettings()
        self.setWindowTitle("cnnviz")
        self.setAcceptDrops(True)
        self.analysis_ticket: Ticket | None = None
        self._long_jobs: list[Ticket] = []  # what Esc stops, newest last
        self._remembered: str | None = None  # the image last put in the recent files
        self.latest_request: AnalysisRequest | None = None
        self.shown_request: AnalysisRequest | None = None  # what the shown result answers
        self.requests_sent = 0  # analysis requests so far (coalescing is tested by it)
        self.shown_result: AnalysisResult | None = None
        self.arch = self.options.arch or self.settings.value("arch", DEFAULT_ARCH)
        self.weights_file: str | None = self.options.weights
        self.device: str | None = self.options.device or self.settings.value("device", None)
        self.allow_download = self.settings.value("allowDownload", True, type=bool)
        self.image_source: ImageSource | None = None
        self.image_name = ""
        # What the shown result was made from; a failed request falls back to it, so that
        # one bad image or weights file does not poison every later request.
        self._last_good: tuple[ImageSource | None, str, str, str | None, str | None] | None = None
        self.timings: dict[str, float] = {}
        self._load_attempt = 0
        self.worker_thread: WorkerThread | None = None
        # Set by the lab and the layer explorer: what each adds to every analysis request.
        self.augment_settings: Callable[[], AugmentSettings | None] = lambda: None
        self.layer_settings: Callable[[], LayerSettings | None] = lambda: None
        # Re-themed on presentation mode changes.
        self.themed_widgets: list[Themed] = []
        self._painted = False
        self._started = False
        self._build_widgets()
        self._install_panels()
        self.menus = menus.build(self)
        layout.restore_geometry(self)
        self.show_workspace(self._first_workspace())
        # Until the window is shown it lacks its real size; first-run dock sizes are set
        # again with the first result.
        self._needs_default_layout = True
        presentation = self.options.presentation
        if presentation is None:
            presentation = self.settings.value("presentation", False, type=bool)
        self.set_presentation(presentation)

    # --- construction -------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.arch_picker = ArchPicker()
        self.arch_picker.sigArchChosen.connect(self.set_arch)
        self.device_picker = DevicePicker()
        self.device_picker.sigDeviceChosen.connect(self.set_device)
        self.workspaces = Workspaces(self, self.settings, self._show_strip)
        self.workspaces.sigChanged.connect(self.sigWorkspaceChanged)
        bar = QToolBar("Workspaces")
        bar.setObjectName("workspaceToolbar")
        bar.setMovable(False)
        bar.addWidget(self.workspaces.bar)
        self.addToolBar(bar)
        self.addToolBarBreak()
        self.workspace_toolbar = bar
        toolbar = QToolBar("Model")
        toolbar.setObjectName("modelToolbar")
        toolbar.addWidget(QLabel(" Model "))
        toolbar.addWidget(self.arch_picker)
        toolbar.addWidget(QLabel("  Device "))
        toolbar.addWidget(self.device_picker)
        self.addToolBar(toolbar)
        self.toolbar = toolbar

        self.untrained_banner = Banner("untrained", closable=False)
        self.error_banner = Banner("error")
        self.notice_banner = Banner("notice")
        self.image_panel = ImagePanel()
        self.strip = CompactStrip()
        central = QWidget()
        central.setObjectName("central")
        column = QVBoxLayout(central)
        column.setContentsMargins(4, 4, 4, 4)
        for banner in (self.untrained_banner, self.error_banner, self.notice_banner):
            column.addWidget(banner)
        column.addWidget(self.strip)
        column.addWidget(self.workspaces.stack, 1)
        self.setCentralWidget(central)
        self.themed_widgets.append(self.strip)

        self.predictions = PredictionsPanel()
        self.predictions.sigCopied.connect(
            lambda _t: self.statusBar().showMessage("Predictions copied to the clipboard", 3000)
        )
        self.add_workspace("Classify", self.image_panel, shortcut="Ctrl+1", strip=False)
        self.predictions_dock = self.add_dock(
            "Predictions", self.predictions, Qt.RightDockWidgetArea, "Classify", share=0.36
        )
        self._build_status_bar()

    def _install_panels(self) -> None:
        """The feature panels, each wired through the extension points above."""
        from cnnviz.qt.augment_controller import install_augment_lab
        from cnnviz.qt.compare_controller import install_compare
        from cnnviz.qt.evaluate_controller import install_evaluate
        from cnnviz.qt.explain_controller import install_explain
        from cnnviz.qt.layer_controller import install_layer_explorer
        from cnnviz.qt.teach_controller import install_teach
        from cnnviz.qt.truth_controller import install_true_label

        # In the order of the workspace bar (Ctrl+1 … Ctrl+7); Classify is built above.
        explorer = install_layer_explorer(self)
        if self.options.layer:
            explorer.select_layer(self.options.layer)
        lab = install_augment_lab(self)
        if self.options.augment:
            lab.set_spec(self.options.augment, self.options.seed, self.options.mix)
        install_explain(self)
        install_compare(self)
        install_evaluate(self)
        install_teach(self)
        install_true_label(self)  # a dock in Classify

    def _first_workspace(self) -> str:
        """What a start asks for (--workspace, --augment, --layer), else where the user
        left off."""
        if self.options.workspace in self.workspaces.items:
            return self.options.workspace
        if self.options.augment:
            return "Augment"
        if self.options.layer:
            return "Layers"
        saved = self.settings.value("workspace", "Classify")
        return saved if saved in self.workspaces.items else "Classify"

    # --- workspaces -----------------------------------------------------------------
    def add_workspace(
        self, name: str, star: QWidget, *, shortcut: str | None = None, strip: bool = True
    ) -> None:
        """A tab in the workspace bar; `star` fills the central area while it is current."""
        self.workspaces.add(name, star, shortcut, strip=strip)

    def add_dock(
        self,
        title: str,
        widget: QWidget,
        area: Qt.DockWidgetArea,
        workspace: str = "Classify",
        *,
        visible: bool = True,
        narrow_area: Qt.DockWidgetArea | None = None,
        share: float | None = None,
    ) -> QDockWidget:
        """A dock shown only in `workspace` (closed at first when not `visible`; in
        `narrow_area` at first when the window is narrow)."""
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "") + "Dock")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.workspaces.add_dock(
            dock, area, workspace, visible=visible, narrow_area=narrow_area, share=share
        )
        return dock

    def show_workspace(self, name: str) -> None:
        self.workspaces.show(name)

    @property
    def workspace(self) -> str:
        return self.workspaces.current or "Classify"

    def is_shown(self, widget: QWidget) -> bool:
        """Whether any of `widget` is on screen (a dock behind another tab, or a hidden
        workspace's panel, is not, though Qt may still call it visible)."""
        return widget.isVisible() and not widget.visibleRegion().isEmpty()

    def _show_strip(self, shown: bool) -> None:
        self.strip.setVisible(shown)

    def reset_layout(self) -> None:
        """View ▸ Reset layout: the current workspace's docks where they start."""
        self.workspaces.reset_layout()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.strip.fit_height(self.height())
        old = event.oldSize()
        self.workspaces.window_resized(old.width(), old.height())

    def resize(self, *size) -> None:  # type: ignore[override]
        """Resize (w, h or a QSize), first moving docks to where they start at that width:
        a wide window's side docks could otherwise hold a narrower size out of reach."""
        width = size[0].width() if len(size) == 1 else size[0]
        self.workspaces.rehome(self.width(), width)
        self.layout().activate()  # the new minimum size, before the resize is clamped to it
        super().resize(*size)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.timings["first_paint"] = time.perf_counter()
            self.torch_loaded_at_first_paint = "torch" in sys.modules
            self.sigFirstPaint.emit()

    def _build_status_bar(self) -> None:
        self.status = StatusPanel(self.statusBar(), self.cancel_work)
        # Short names the panels and tests use.
        self.progress, self.cancel_button = self.status.progress, self.status.cancel_button
        self.status_labels = self.status.labels

    # --- start-up -----------------------------------------------------------------
    def start(self) -> None:
        """Start the worker and ask for the first result; call once the window is shown
        (a second call does nothing)."""
        if self._started:
            return
        self._started = True
        self.timings.setdefault("window_shown", time.perf_counter())
        self.worker_thread = WorkerThread()
        from cnnviz.core.zoo.catalog import CatalogRequest

        self.worker_thread.submit(
            CatalogRequest(), self._on_catalog, on_failed=lambda f: self.show_error(f.message)
        )
        image = self.options.image or self.settings.value("lastImage") or str(default_sample())
        if image and not os.path.isfile(str(image)):
            image = str(default_sample())
        self.open_image(str(image))

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel every job and join the worker; False if it was still busy after
        `timeout_ms` (a model being built cannot stop half-way)."""
        if self.worker_thread is None:
            return True
        stopped = self.worker_thread.stop(timeout_ms)
        if not stopped:
            # Destroying a running QThread aborts the process; keep it until exit.
            self._busy_worker = self.worker_thread
        self.worker_thread = None
        return stopped

    @property
    def worker_busy(self) -> bool:
        """A job outlived shutdown(): the process must end without waiting for it."""
        return hasattr(self, "_busy_worker")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.settings.setValue("geometry", self.saveGeometry())
        self.workspaces.save_state()
        self.settings.sync()
        # Quitting never waits on a long job: jobs stop at their next check, well under a
        # second; a model still being built is left behind (cnnviz.app ends the process).
        self.shutdown(timeout_ms=QUIT_WAIT_MS)
        super().closeEvent(event)

    # --- user actions -------------------------------------------------------------
    @Slot(str)
    def set_arch(self, name: str) -> None:
        if name == self.arch and self.weights_file is None:
            shown = self.shown_result
            if shown is None or not shown.model.weights.untrained:
                return
            self._load_attempt += 1  # picking an untrained model again retries its download
        self.arch = name
        self.weights_file = None
        self.settings.setValue("arch", name)
        self.arch_picker.select(name)
        self.submit()

    @Slot(str)
    def set_device(self, name: str) -> None:
        self.device = name
        self.settings.setValue("device", name)
        self.submit()

    def set_weights_file(self, path: str | None) -> None:
        self.weights_file = path
        self.submit()

    def set_allow_download(self, allowed: bool) -> None:
        self.allow_download = allowed
        self.settings.setValue("allowDownload", allowed)

    def open_image(self, source: str | bytes, name: str | None = None) -> None:
        self.image_source = source
        self.image_name = name or (os.path.basename(source) if isinstance(source, str) else "image")
        self.submit()

    def open_image_dialog(self) -> None:
        start = os.path.dirname(self.image_source) if isinstance(self.image_source, str) else ""
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open image",
            start,
            image_input.image_file_filter(),
        )
        if path:
            self.open_image(path)

    def paste_image(self) -> None:
        clipboard = QGuiApplication.clipboard()
        source = image_input.source_from_mime(clipboard.mimeData(), clipboard.image())
        if source is None:
            self.show_error("The clipboard holds no image to paste.")
            return
        self.open_image(*source)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if image_input.accepts(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        source = image_input.source_from_mime(event.mimeData())
        if source is not None:
            self.open_image(*source)
            event.acceptProposedAction()

    def track_job(self, ticket: Ticket) -> None:
        """A long job (a sweep, a stability count) that Esc and Cancel may stop."""
        self._long_jobs.append(ticket)

    def cancel_work(self) -> None:
        """Esc and Cancel: stop the newest long job still running, and only it; with none
        running, the current analysis (a model download)."""
        worker = self.worker_thread
        if worker is None:
            return
        self._long_jobs = [t for t in self._long_jobs if worker.is_current(t)]
        worker.cancel(self._long_jobs.pop() if self._long_jobs else self.analysis_ticket)

    def set_presentation(self, on: bool) -> None:
        self.presentation = on
        self.settings.setValue("presentation", on)
        theme = PRESENTATION if on else NORMAL
        app = QApplication.instance()
        if app is not None:
            # Widgets a style sheet rule matches (trees, tables, buttons, labels) keep the
            # font they had when it polished them: fonts first, then the style sheet.
            app.setStyleSheet("")
            apply_theme(app, theme, style_sheet=False)
            # Widgets pick up an application font change only on a later event; apply it now.
            self.setFont(QApplication.font())
            self.setPalette(QApplication.palette())
            _refont_chrome(self)
            app.setStyleSheet(control_style(theme))
        self.theme = theme
        for widget in [self.image_panel, self.predictions, *self.themed_widgets]:
            widget.apply_theme(theme)
        if hasattr(self, "menus"):
            self.menus.presentation.setChecked(on)

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    # --- requests and results -------------------------------------------------------
    def submit(self) -> None:
        """Send the current state to the worker as the newest analysis request."""
        if self.worker_thread is None:
            return
        from cnnviz.core.analysis import AnalysisRequest

        request = AnalysisRequest(
            self.model_key(),
            self.image_source,
            self.image_name,
            augment=self.augment_settings(),
            layer=self.layer_settings(),
        )
        self.requests_sent += 1
        self.latest_request = request
        self._set_busy(f"Running {self.arch}…")
        self.analysis_ticket = self.worker_thread.submit(
            request,
            partial(self._on_result, request),
            on_failed=self._on_failed,
            on_progress=self._on_progress,
        )

    def model_key(self) -> ModelKey:
        from cnnviz.core.requests import ModelKey

        return ModelKey(
            self.arch, self.weights_file, self.device, self.allow_download, self._load_attempt
        )

    def _set_busy(self, text: str | None) -> None:
        self.status.set_busy(text)

    def _on_result(self, request: AnalysisRequest, result: AnalysisResult) -> None:
        started = time.perf_counter()
        if "first_result" not in self.timings:
            self.timings["first_result"] = started
            freeze_startup_objects()
        if self._needs_default_layout:
            self._needs_default_layout = False
            if not self.workspaces.restored:
                self.workspaces.default_sizes()
        self._set_busy(None)
        self.error_banner.hide()
        self.shown_result = result
        self.shown_request = request
        self._last_good = self._inputs()
        if isinstance(self.image_source, str) and self.image_source != self._remembered:
            self._remember_recent(self.image_source)
        self._show_model(result.model)
        prediction = result.prediction
        if prediction is not None and result.original is not None:
            self.image_panel.show_images(
                result.original,
                prediction.model_input,
                f"{result.image_name} · {result.original.shape[1]}×{result.original.shape[0]}",
                f"{prediction.model_input.shape[1]}×{prediction.model_input.shape[0]}, "
                "de-normalised",
            )
            self._show_predictions(result)
            self.strip.show_result(
                result.original, prediction.model_input, self.predictions.rows, self._note(result)
            )
            self.status.show_forward_time(prediction.forward_ms)
            if prediction.notice:
                self.notice_banner.show_message(prediction.notice)
        self.sigResultShown.emit(result)
        # The GUI thread's share of an update: every panel's redraw (see `cnnviz bench`).
        self.timings["draw_ms"] = (time.perf_counter() - started) * 1000

    @staticmethod
    def _note(result: AnalysisResult) -> str:
        return "Random weights!" if result.model.weights.untrained else ""

    def _show_predictions(self, result: AnalysisResult) -> None:
        notes = []
        if result.model.weights.untrained:
            notes.append("Random weights: these predictions mean nothing.")
        if result.lab is not None:
            rows = [Row(r.rank, r.label, r.probability, r.change_text()) for r in result.lab.rows]
            notes.append(result.lab.summary_text())
        elif result.prediction is not None:
            rows = [Row(c.rank, c.label, c.probability) for c in result.prediction.top]
        else:
            rows = []
        self.predictions.show_rows(rows, note="  ".join(notes))

    def _show_model(self, model: ModelSummary) -> None:
        weights = model.weights
        self.setWindowTitle(f"cnnviz — {model.display_name}")
        self.status.show_model(model)
        if weights.untrained:
            reason = weights.untrained_reason
            detail = f"{reason}. " if reason else ""
            self.untrained_banner.show_message(
                f"⚠  UNTRAINED MODEL: {model.display_name} runs on random weights, so its "
                f"predictions mean nothing.<br><span style='font-weight:normal'>{detail}"
                "Load a weights file (Model ▸ Load weights file…), or go online and pick the "
                "model again to download its pretrained weights.</span>"
            )
        else:
            self.untrained_banner.hide()

    def _on_failed(self, failure: Failure) -> None:
        from cnnviz.core.errors import UnknownLayerError

        self._set_busy(None)
        # A bad image, model or weights file: back to what the shown result was made of. A
        # layer this model lacks is the layer explorer's to undo (sigAnalysisFailed).
        if self._last_good is not None and not failure.is_a(UnknownLayerError):
            self._restore_inputs(self._last_good)
        self.show_error(failure.message)
        self.sigAnalysisFailed.emit(failure)

    def _inputs(self) -> tuple[ImageSource | None, str, str, str | None, str | None]:
        return (self.image_source, self.image_name, self.arch, self.weights_file, self.device)

    def _restore_inputs(
        self, inputs: tuple[ImageSource | None, str, str, str | None, str | None]
    ) -> None:
        self.image_source, self.image_name, self.arch, self.weights_file, self.device = inputs
        self.arch_picker.select(self.arch)

    def show_error(self, message: str) -> None:
        self.error_banner.show_message(message)
        self.statusBar().showMessage(message, 8000)
        self.sigErrorShown.emit(message)

    def _on_progress(self, what: str, done: int, total: int) -> None:
        self.status.show_progress(f"{what} for {self.arch}", done, total)

    def _on_catalog(self, catalog: Catalog) -> None:
        self.arch_picker.set_rows(list(catalog.rows), self.arch)
        self.device_picker.set_devices(list(catalog.devices), self.device)

    def _remember_recent(self, path: str) -> None:
        self._remembered = path
        recent = [p for p in self.recent_files() if p != path]
        recent.insert(0, path)
        self.settings.setValue("recentFiles", recent[:MAX_RECENT])
        self.settings.setValue("lastImage", path)
        menus.refresh_recent(self)

    def recent_files(self) -> list[str]:
        value = self.settings.value("recentFiles", [])
        return [value] if isinstance(value, str) else list(value or [])

    def sample_entries(self) -> list[tuple[str, Path]]:
        return samples()


def _refont_chrome(window: QMainWindow) -> None:
    """Dock titles, tab bars and tooltips in the application's current font.

    A QDockWidget whose font equals the application's paints its title in a private copy
    of the font it was created with, so a font change never reaches the title. A font that
    differs in an invisible detail (its style strategy) makes it paint with its own font.
    """
    font = QFont(QApplication.font())
    font.setStyleStrategy(QFont.PreferAntialias)
    for dock in window.findChildren(QDockWidget):
        dock.setFont(font)
    # Tab bars measure their tabs once; a font of their own makes them measure again.
    for bar in window.findChildren(QTabBar):
        bar.setFont(font)
    QToolTip.setFont(QApplication.font())
