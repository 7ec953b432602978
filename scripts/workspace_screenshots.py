"""Screenshots of every workspace at every projector size, normal and presentation.

    QT_QPA_PLATFORM=offscreen python scripts/workspace_screenshots.py OUT_DIR [IMAGE]

One window, one result per workspace; files are named WORKSPACE_WxH_MODE.png. The
README's screenshots and the projector-size review come from here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from cnnviz.qt.main_window import MainWindow, StartOptions
from cnnviz.resources_path import default_sample

SIZES = [(1024, 768), (1280, 720), (1280, 800), (1440, 900), (1920, 1080)]


def _wait(app: QApplication, window: MainWindow) -> None:
    while window.shown_request is not window.latest_request or window.shown_request is None:
        app.processEvents()
    for _ in range(10):
        app.processEvents()


def main(out: str, image: str | None = None) -> None:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    settings = QSettings(QSettings.IniFormat, QSettings.UserScope, "cnnviz", "shots")
    settings.clear()
    options = StartOptions(image=image or str(default_sample()), device="cpu")
    window = MainWindow(options, settings)
    window.show()
    window.start()
    _wait(app, window)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for mode in ("normal", "presentation"):
        window.set_presentation(mode == "presentation")
        for name in list(window.workspaces.items):
            window.show_workspace(name)
            for width, height in SIZES:
                window.resize(width, height)
                _wait(app, window)
                window.grab().save(str(folder / f"{name}_{width}x{height}_{mode}.png"))
    window.set_presentation(False)
    window.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:])
