"""The composition root: QApplication, main window, worker thread, scripted screenshots."""

from __future__ import annotations

import argparse
import os
import sys
import time

PROCESS_START = time.perf_counter()
SCREENSHOT_SETTLE_MS = 400
FIRST_PAINT_WAIT_MS = 2000


def run_app(args: argparse.Namespace) -> int:
    """Show the window at once; torch is imported by the worker after it is visible."""
    import pyqtgraph as pg
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from cnnviz.qt.main_window import QUIT_WAIT_MS, MainWindow, StartOptions

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("cnnviz")
    app.setApplicationName("cnnviz")
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    options = StartOptions(
        arch=getattr(args, "arch", None),
        image=getattr(args, "image", None),
        weights=getattr(args, "weights", None),
        device=getattr(args, "device", None),
        presentation=True if getattr(args, "presentation", False) else None,
        augment=getattr(args, "augment", None),
        seed=getattr(args, "seed", 0) or 0,
        mix=getattr(args, "mix", None),
        layer=getattr(args, "layer", None),
        workspace=getattr(args, "workspace", None),
    )
    screenshot = getattr(args, "screenshot", None)
    # A scripted screenshot must not depend on (or change) the user's saved preferences.
    settings = (
        QSettings(QSettings.IniFormat, QSettings.UserScope, "cnnviz", "screenshot")
        if screenshot
        else QSettings()
    )
    if screenshot:
        settings.clear()
    window = MainWindow(options, settings)
    size = getattr(args, "size", None)
    if size is not None:
        window.resize(*size)
        window.requested_size = tuple(size)
    window.timings["process_start"] = PROCESS_START
    window.show()
    window.timings["window_shown"] = time.perf_counter()
    exit_code = {"value": 0}
    if screenshot:
        _arm_screenshot(window, screenshot, exit_code)
    # Start the worker (which imports torch) only once the window has painted: under load
    # torch's import holds the interpreter for seconds, and the window must not sit black.
    window.sigFirstPaint.connect(lambda: QTimer.singleShot(0, window.start))
    QTimer.singleShot(FIRST_PAINT_WAIT_MS, window.start)  # a platform that never paints
    status = app.exec()
    code = exit_code["value"] or status
    if not window.shutdown(timeout_ms=QUIT_WAIT_MS) or window.worker_busy:
        # A job that cannot stop half-way (a model being built) must not hold up quitting:
        # the settings are saved, so end the process now instead of waiting for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _arm_screenshot(window, path: str, exit_code: dict[str, int]) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    def save_and_quit() -> None:
        size = getattr(window, "requested_size", None)
        if size is not None and window.size().toTuple() != size:
            # Content that arrived with the result may have nudged the window; a screenshot
            # at a projector size is taken at exactly that size.
            window.resize(*size)
            QApplication.processEvents()
        if not window.grab().save(path):
            print(f"cnnviz: error: cannot write {path}", file=sys.stderr)
            exit_code["value"] = 1
        t0 = window.timings["process_start"]
        shown = window.timings.get("window_shown", t0) - t0
        first = window.timings.get("first_result", t0) - t0
        print(f"window shown after {shown:.2f} s; first prediction after {first:.2f} s")
        QApplication.instance().quit()

    def on_result(_result) -> None:
        QTimer.singleShot(SCREENSHOT_SETTLE_MS, save_and_quit)

    def on_error(message: str) -> None:
        print(f"cnnviz: error: {message}", file=sys.stderr)
        exit_code["value"] = 2
        QTimer.singleShot(SCREENSHOT_SETTLE_MS, save_and_quit)

    window.sigResultShown.connect(on_result)
    window.sigErrorShown.connect(on_error)


def window_rates(image: str, steps: int = 20) -> tuple[tuple[float, ...], tuple[float, ...], float]:
    """The window's live updates (see cnnviz.qt.window_bench), for `cnnviz bench`: the
    slider-to-screen times and the panels' redraw times in ms, and updates per second
    while dragging. Runs offscreen unless a platform is chosen."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from cnnviz.qt.window_bench import measure

    rates = measure(image, steps=steps)
    return rates.step_ms, rates.draw_ms, rates.drag_per_second
