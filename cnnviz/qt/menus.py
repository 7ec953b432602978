"""The main window's menus and shortcuts."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

if TYPE_CHECKING:
    from cnnviz.qt.main_window import MainWindow


@dataclass
class Menus:
    recent: QMenu
    samples: QMenu
    view: QMenu
    presentation: QAction
    allow_download: QAction


def _action(window, menu: QMenu, text: str, slot, shortcut=None, *, checkable=False) -> QAction:
    """A menu action; a checkable one passes its new state to `slot`, others pass nothing."""
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.setCheckable(checkable)
    if checkable:
        action.toggled.connect(slot)
    else:
        action.triggered.connect(lambda _checked=False: slot())
    menu.addAction(action)
    return action


def build(window: MainWindow) -> Menus:
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    _action(window, file_menu, "&Open image…", window.open_image_dialog, QKeySequence.Open)
    recent = file_menu.addMenu("Open &recent")
    samples = file_menu.addMenu("&Samples")
    for title, path in window.sample_entries():
        _action(window, samples, title, partial(window.open_image, str(path)))
    _action(window, file_menu, "&Paste image", window.paste_image, QKeySequence.Paste)
    file_menu.addSeparator()
    _action(
        window, file_menu, "Save &window as PNG…", partial(_save_screenshot, window), "Ctrl+Shift+S"
    )
    file_menu.addSeparator()
    _action(window, file_menu, "&Quit", window.close, QKeySequence.Quit)

    model_menu = bar.addMenu("&Model")
    _action(window, model_menu, "Load &weights file…", partial(_load_weights, window), "Ctrl+W")
    _action(window, model_menu, "Use &default weights", partial(window.set_weights_file, None))
    allow = _action(
        window,
        model_menu,
        "Download pretrained weights when online",
        window.set_allow_download,
        checkable=True,
    )
    allow.setChecked(window.allow_download)
    _action(window, model_menu, "&Cancel the running job", window.cancel_work, "Esc")

    view = bar.addMenu("&View")
    presentation = _action(
        window,
        view,
        "&Presentation mode (large, high contrast)",
        window.set_presentation,
        "F5",
        checkable=True,
    )
    _action(window, view, "&Full screen", window.toggle_full_screen, QKeySequence.FullScreen)
    view.addAction(window.workspaces.focus_action)
    view.addAction(window.workspaces.reset_action)
    view.addSeparator()
    panels = view.addMenu("&Panels of this workspace")
    panels.aboutToShow.connect(partial(_list_panels, window, panels))

    workspace_menu = bar.addMenu("&Workspace")
    for action in window.workspaces.actions.values():
        workspace_menu.addAction(action)

    help_menu = bar.addMenu("&Help")
    _action(window, help_menu, "&About cnnviz", partial(show_about, window))
    menus = Menus(recent, samples, view, presentation, allow)
    window.menus = menus
    refresh_recent(window)
    return menus


def _list_panels(window: MainWindow, menu: QMenu) -> None:
    """The current workspace's docks, to show one that was closed."""
    menu.clear()
    workspace = window.workspaces.items[window.workspace]
    for dock in workspace.docks:
        menu.addAction(dock.toggleViewAction())


def refresh_recent(window: MainWindow) -> None:
    menu = window.menus.recent
    menu.clear()
    for path in window.recent_files():
        _action(window, menu, os.path.basename(path), partial(window.open_image, path))
    menu.setEnabled(bool(window.recent_files()))


def _load_weights(window: MainWindow) -> None:
    path, _ = QFileDialog.getOpenFileName(
        window, "Load weights", "", "Weights (*.pth *.pt *.safetensors *.bin);;All files (*)"
    )
    if path:
        window.set_weights_file(path)


def _save_screenshot(window: MainWindow) -> None:
    path, _ = QFileDialog.getSaveFileName(window, "Save window as PNG", "cnnviz.png", "PNG (*.png)")
    if path:
        window.grab().save(path)


def about_text(window: MainWindow) -> str:
    import numpy
    import pyqtgraph
    import PySide6
    from PySide6.QtCore import qVersion

    import cnnviz

    versions = [
        ("cnnviz", cnnviz.__version__),
        ("Python", platform.python_version()),
        ("PySide6", PySide6.__version__),
        ("Qt", qVersion()),
        ("pyqtgraph", pyqtgraph.__version__),
        ("NumPy", numpy.__version__),
    ]
    try:
        import torch
        import torchvision

        versions += [("PyTorch", torch.__version__), ("torchvision", torchvision.__version__)]
    except ImportError:
        pass
    rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in versions)
    device = window.status_labels["device"].text() or "not chosen yet"
    timing = ""
    if "first_result" in window.timings and "process_start" in window.timings:
        t0 = window.timings["process_start"]
        timing = (
            f"<p>Window after {window.timings['window_shown'] - t0:.2f} s, first "
            f"prediction after {window.timings['first_result'] - t0:.2f} s.</p>"
        )
    return (
        f"<h3>cnnviz</h3><p>Look inside convolutional networks.</p>"
        f"<table>{rows}</table><p>Current {device}.</p>{timing}"
    )


def show_about(window: MainWindow) -> None:
    QMessageBox.about(window, "About cnnviz", about_text(window))
