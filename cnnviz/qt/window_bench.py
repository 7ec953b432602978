"""The real window's live update rate: a lab slider moved, the result drawn on screen.

Two figures, both with Lite0 in an offscreen window: one step at a time (move, wait until
every panel has drawn the result), and a continuous drag (a move every 16 ms, as a mouse
reports them; newest wins) counted as results drawn per second. The GUI thread's own
share, the panels' redraw, is reported too.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEventLoop, QSettings, QTimer, SignalInstance
from PySide6.QtWidgets import QApplication

from cnnviz.qt.main_window import MainWindow, StartOptions

_TIMEOUT_MS = 120_000


@dataclass(frozen=True)
class WindowRates:
    step_ms: tuple[float, ...]  # slider move to result drawn, one at a time
    draw_ms: tuple[float, ...]  # the panels' redraw within each step
    drag_results: int  # results drawn during the continuous drag
    drag_seconds: float

    @property
    def steps_per_second(self) -> float:
        return 1000.0 / statistics.median(self.step_ms)

    @property
    def drag_per_second(self) -> float:
        return self.drag_results / self.drag_seconds

    def as_dict(self) -> dict[str, object]:
        return {
            "step_median_ms": round(statistics.median(self.step_ms), 2),
            "step_min_ms": round(min(self.step_ms), 2),
            "step_max_ms": round(max(self.step_ms), 2),
            "updates_per_second_one_at_a_time": round(self.steps_per_second, 1),
            "updates_per_second_while_dragging": round(self.drag_per_second, 1),
            "redraw_median_ms": round(statistics.median(self.draw_ms), 2),
        }


def _wait(condition: Callable[[], bool], signal: SignalInstance | None = None) -> None:
    """Run the event loop until `condition()` holds, checked whenever `signal` fires (or,
    without a signal, every 10 ms), or until the time-out.

    Driven by the window's own signal rather than a fast timer: polling every millisecond
    kept the GUI thread (and the GIL) busy and slowed the worker it was timing.
    """
    if condition():
        return
    loop = QEventLoop()

    def check(*_args: object) -> None:
        if condition():
            loop.quit()

    timer = QTimer()
    timer.timeout.connect(check)
    timer.start(10)
    if signal is not None:
        signal.connect(check)
    QTimer.singleShot(_TIMEOUT_MS, loop.quit)
    loop.exec()
    timer.stop()
    if signal is not None:
        signal.disconnect(check)


def _lab_shown(window: MainWindow) -> bool:
    return window.shown_result is not None and window.shown_result.lab is not None


def measure(image: str, *, steps: int = 20, drag_seconds: float = 3.0) -> WindowRates:
    """Open the window on `image`, turn on a rotation in the lab and move its slider."""
    app = QApplication.instance() or QApplication([])
    settings = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "cnnviz", "bench")
    settings.clear()
    window = MainWindow(StartOptions(image=image, device="cpu"), settings)
    window.resize(1280, 800)
    window.show()
    shown: list[float] = []
    window.sigResultShown.connect(lambda _r: shown.append(time.perf_counter()))
    window.start()
    try:
        _wait(lambda: bool(shown))
        controller = window.augment_lab
        controller.set_spec("RandomRotation(degrees=[0, 0])", seed=0)
        window.show_workspace("Augment")
        _wait(lambda: _lab_shown(window))
        lab = controller.lab
        assert lab is not None
        slider = lab.editors["degrees"].rows[0].slider
        step_ms, draw_ms = [], []
        for i in range(steps):
            before = len(shown)
            start = time.perf_counter()
            slider.setValue(181 + (i % 90))
            _wait(lambda b=before: len(shown) > b, window.sigResultShown)
            app.processEvents()  # the repaint the result asked for
            step_ms.append((time.perf_counter() - start) * 1000)
            draw_ms.append(window.timings["draw_ms"])
        before = len(shown)
        start = time.perf_counter()
        position = [0]

        def move() -> None:
            position[0] += 1
            slider.setValue(181 + position[0] % 90)

        mover = QTimer()
        mover.timeout.connect(move)
        mover.start(16)  # a mouse drag reports about 60 moves a second
        _wait(lambda: time.perf_counter() - start > drag_seconds)  # (every 10 ms)
        mover.stop()
        return WindowRates(tuple(step_ms), tuple(draw_ms), len(shown) - before, drag_seconds)
    finally:
        window.close()
        window.shutdown()
