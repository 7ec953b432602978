"""Helpers for driving the real main window in tests."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from cnnviz.qt.main_window import MainWindow, StartOptions

RESULT_TIMEOUT_MS = 120_000


def make_window(qtbot, tmp_path, **options) -> MainWindow:
    """A shown, started window with its own settings file; the fixture stops it."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    window = MainWindow(StartOptions(**options), settings)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.sigResultShown, timeout=RESULT_TIMEOUT_MS):
        window.start()
    return window


def stop_window(window: MainWindow) -> None:
    thread = window.worker_thread.thread if window.worker_thread else None
    window.shutdown()
    assert thread is None or thread.isFinished(), "worker thread left running"
    assert not hasattr(window, "_busy_worker")


def wait_for_result(qtbot, window: MainWindow, action) -> object:
    """Run `action` and return the result that the window shows for it."""
    with qtbot.waitSignal(window.sigResultShown, timeout=RESULT_TIMEOUT_MS) as blocker:
        action()
    return blocker.args[0]
