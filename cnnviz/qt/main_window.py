"""The main window: pickers, image views and predictions, wired to the worker."""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from cnnviz.defaults import DEFAULT_ARCH
from cnnviz.qt import image_input, layout, menus
from cnnviz.qt.banner import Banner
from cnnviz.qt.model_picker import ArchPicker, DevicePicker
from cnnviz.qt.panels.image_panel import ImagePanel
from cnnviz.qt.panels.predictions import PredictionsPanel, Row
from cnnviz.qt.status_bar import StatusPanel
from cnnviz.qt.theme import NORMAL, PRESENTATION, apply_theme
from cnnviz.qt.worker import WorkerThread
from cnnviz.resources_path import default_sample, samples

MAX_RECENT = 8


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


class MainWindow(QMainWindow):
    """Every user action becomes a request to the worker; only the newest result is shown."""

    sigResultShown = Signal(object)  # AnalysisResult now on screen
    sigErrorShown = Signal(str)

    def __init__(self, options: StartOptions | None = None, settings: QSettings | None = None):
        super().__init__()
        self.options = options or StartOptions()
        self.settings = settings or QSettings()
        self.setWindowTitle("cnnviz")
        self.setAcceptDrops(True)
        self._ids = itertools.count(1)
        self.pending_id = 0
        self.shown_result: Any = None
        self.arch = self.options.arch or self.settings.value("arch", DEFAULT_ARCH)
        self.weights_file: str | None = self.options.weights
        self.device: str | None = self.options.device or self.settings.value("device", None)
        self.allow_download = self.settings.value("allowDownload", True, type=bool)
        self.image_source: str | bytes | None = None
        self.image_name = ""
        # What the shown result was made from; a failed request falls back to it, so that
        # one bad image or weights file does not poison every later request.
        self._last_good: tuple[Any, ...] | None = None
        self.timings: dict[str, float] = {}
        self._load_attempt = 0
        self.worker_thread: WorkerThread | None = None
        # Panels that add to every analysis request (the lab's pipeline, the chosen layer)
        # register a callable returning AnalysisRequest keyword arguments.
        self.request_contributors: list[Callable[[], dict[str, Any]]] = []
        # Widgets with an apply_theme(theme) method, re-themed on presentation mode changes.
        self.themed_widgets: list[Any] = []
        self._build_widgets()
        self._install_panels()
        self.menus = menus.build(self)
        # Until the window is shown it lacks its real size; first-run dock sizes are set
        # again with the first result.
        self._needs_default_layout = not layout.restore(self)
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
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        for banner in (self.untrained_banner, self.error_banner, self.notice_banner):
            layout.addWidget(banner)
        layout.addWidget(self.image_panel, 1)
        self.setCentralWidget(central)

        self.predictions = PredictionsPanel()
        self.predictions.sigCopied.connect(
            lambda _t: self.statusBar().showMessage("Predictions copied to the clipboard", 3000)
        )
        self.predictions_dock = self.add_dock(
            "Predictions", self.predictions, Qt.RightDockWidgetArea
        )
        self._build_status_bar()

    def _install_panels(self) -> None:
        """The feature panels, each wired through the extension points above."""
        from cnnviz.qt.augment_controller import install_augment_lab
        from cnnviz.qt.layer_controller import install_layer_explorer

        lab = install_augment_lab(self)
        if self.options.augment:
            lab.set_spec(self.options.augment, self.options.seed, self.options.mix)
        explorer = install_layer_explorer(self)
        if self.options.layer:
            explorer.select_layer(self.options.layer)
        # The tab a first-time user sees: the lab when augmenting, else the feature maps.
        (lab.lab_dock if self.options.augment else explorer.maps_dock).raise_()

    def add_dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "") + "Dock")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        self.status = StatusPanel(self.statusBar(), self.cancel_work)
        # Short names the panels and tests use.
        self.progress, self.cancel_button = self.status.progress, self.status.cancel_button
        self.status_labels = self.status.labels

    # --- start-up -----------------------------------------------------------------
    def start(self) -> None:
        """Start the worker and ask for the first result; call once the window is shown."""
        self.timings.setdefault("window_shown", time.perf_counter())
        self.worker_thread = WorkerThread()
        worker = self.worker_thread.worker
        worker.sigResult.connect(self._on_result)
        worker.sigFailed.connect(self._on_failed)
        worker.sigProgress.connect(self._on_progress)
        worker.sigCatalog.connect(self._on_catalog)
        worker.request_catalog()
        image = self.options.image or self.settings.value("lastImage") or str(default_sample())
        if image and not os.path.isfile(str(image)):
            image = str(default_sample())
        self.open_image(str(image))

    def shutdown(self) -> None:
        if self.worker_thread is not None:
            if not self.worker_thread.stop():
                # Destroying a running QThread aborts the process; keep it until exit.
                print("cnnviz: the worker is still busy; leaving it to finish", file=sys.stderr)
                self._busy_worker = self.worker_thread
            self.worker_thread = None

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("windowState", self.saveState())
        self.shutdown()
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
            "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)",
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

    def cancel_work(self) -> None:
        if self.worker_thread is not None:
            self.worker_thread.worker.cancel()

    def set_presentation(self, on: bool) -> None:
        self.presentation = on
        self.settings.setValue("presentation", on)
        theme = PRESENTATION if on else NORMAL
        app = QApplication.instance()
        if app is not None:
            apply_theme(app, theme)
            # Widgets pick up an application font change only on a later event; apply it now.
            self.setFont(QApplication.font())
            self.setPalette(QApplication.palette())
        self.theme = theme
        for widget in [self.image_panel, self.predictions, *self.themed_widgets]:
            widget.apply_theme(theme)
        if hasattr(self, "menus"):
            self.menus.presentation.setChecked(on)

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    # --- requests and results -------------------------------------------------------
    def submit(self) -> None:
        """Send the current state to the worker as the newest request."""
        if self.worker_thread is None:
            return
        from cnnviz.core.session import AnalysisRequest

        self.pending_id = self.next_request_id()
        key = self.model_key()
        extras: dict[str, Any] = {}
        for contribute in self.request_contributors:
            extras.update(contribute())
        request = AnalysisRequest(
            self.pending_id, key, self.image_source, self.image_name, **extras
        )
        self._set_busy(f"Running {self.arch}…")
        self.worker_thread.worker.submit(request)

    def next_request_id(self) -> int:
        """Ids grow over all request kinds, so a newer request always has a larger id."""
        return next(self._ids)

    def model_key(self) -> Any:
        from cnnviz.core.session import ModelKey

        return ModelKey(
            self.arch, self.weights_file, self.device, self.allow_download, self._load_attempt
        )

    @property
    def worker(self) -> Any:
        return self.worker_thread.worker if self.worker_thread is not None else None

    def _set_busy(self, text: str | None) -> None:
        self.status.set_busy(text)

    @Slot(object)
    def _on_result(self, result: Any) -> None:
        if result.request_id != self.pending_id:
            return  # an older request: its input is no longer what the window shows
        self.timings.setdefault("first_result", time.perf_counter())
        if self._needs_default_layout:
            self._needs_default_layout = False
            layout.default_dock_sizes(self)
        self._set_busy(None)
        self.error_banner.hide()
        self.shown_result = result
        self._last_good = self._inputs()
        if isinstance(self.image_source, str):
            self._remember_recent(self.image_source)
        self._show_model(result.model)
        prediction = result.prediction
        if prediction is not None:
            self.image_panel.show_images(
                result.original,
                prediction.model_input,
                f"{result.image_name} · {result.original.shape[1]}×{result.original.shape[0]}",
                f"{prediction.model_input.shape[1]}×{prediction.model_input.shape[0]}, "
                "de-normalised",
            )
            self._show_predictions(result)
            self.status.show_forward_time(prediction.forward_ms)
            if prediction.notice:
                self.notice_banner.show_message(prediction.notice)
        self.sigResultShown.emit(result)

    def _show_predictions(self, result: Any) -> None:
        notes = []
        if result.model.weights.untrained:
            notes.append("Random weights: these predictions mean nothing.")
        if result.lab is not None:
            rows = [Row(r.rank, r.label, r.probability, r.change_text()) for r in result.lab.rows]
            notes.append(result.lab.summary_text())
        else:
            rows = [Row(c.rank, c.label, c.probability) for c in result.prediction.top]
        self.predictions.show_rows(rows, note="  ".join(notes))

    def _show_model(self, model: Any) -> None:
        weights = model.weights
        self.setWindowTitle(f"cnnviz — {model.display_name}")
        self.status.show_model(model)
        if weights.untrained:
            reason = weights.description.split("; random initialisation")[0]
            detail = "" if reason.startswith("random initialisation") else f"{reason}. "
            self.untrained_banner.show_message(
                f"⚠  UNTRAINED MODEL: {model.display_name} runs on random weights, so its "
                f"predictions mean nothing.<br><span style='font-weight:normal'>{detail}"
                "Load a weights file (Model ▸ Load weights file…), or go online and pick the "
                "model again to download its pretrained weights.</span>"
            )
        else:
            self.untrained_banner.hide()

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id != self.pending_id:
            return
        self._set_busy(None)
        if self._last_good is not None:
            self._restore_inputs(self._last_good)
        self.show_error(message)

    def _inputs(self) -> tuple[Any, ...]:
        return (self.image_source, self.image_name, self.arch, self.weights_file, self.device)

    def _restore_inputs(self, inputs: tuple[Any, ...]) -> None:
        self.image_source, self.image_name, self.arch, self.weights_file, self.device = inputs
        self.arch_picker.select(self.arch)

    def show_error(self, message: str) -> None:
        self.error_banner.show_message(message)
        self.statusBar().showMessage(message, 8000)
        self.sigErrorShown.emit(message)

    @Slot(int, str, int, int)
    def _on_progress(self, request_id: int, what: str, done: int, total: int) -> None:
        if request_id != self.pending_id:
            return
        self.status.show_progress(f"{what} for {self.arch}", done, total)

    @Slot(object, object)
    def _on_catalog(self, rows: Any, devices: Any) -> None:
        self.arch_picker.set_rows(rows, self.arch)
        self.device_picker.set_devices(devices, self.device)

    def _remember_recent(self, path: str) -> None:
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
