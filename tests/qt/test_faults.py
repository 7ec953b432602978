"""Faults: quitting mid-job, a storm of switches, and the GUI thread never stalling."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QElapsedTimer, QTimer
from qt_helpers import RESULT_TIMEOUT_MS, wait_for_result

from cnnviz.qt.augment_controller import install_augment_lab


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def _hooks(model) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


class StallProbe:
    """Ticks on the GUI thread every few ms and keeps the longest gap between ticks."""

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.longest_ms = 0
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.clock.start()
        self.timer.start()

    def _tick(self) -> None:
        self.longest_ms = max(self.longest_ms, self.clock.restart())

    def stop(self) -> int:
        self.timer.stop()
        return self.longest_ms


def test_closing_during_a_sweep_quits_within_a_second(qtbot, window):
    controller = install_augment_lab(window)
    assert controller.set_spec("RandomRotation(degrees=[-30, 30])", seed=1)
    sweeps = controller.sweeps
    sweeps.steps_spin.setValue(200)
    sweeps.run_button.click()
    qtbot.waitUntil(lambda: sweeps.progress.value() > 0, timeout=RESULT_TIMEOUT_MS)
    window.open_image(window.image_source)  # and a live analysis on its way
    thread = window.worker_thread.thread
    start = time.perf_counter()
    window.close()
    assert time.perf_counter() - start < 1.0
    assert thread.isFinished() and not window.worker_busy


def test_a_storm_of_switches_ends_on_the_newest_with_no_leaked_hooks(qtbot, window, samples_dir):
    controller = install_augment_lab(window)
    photos = [str(samples_dir / n) for n in ("cat.jpg", "coffee.jpg", "rocket.jpg", "dahlia.jpg")]
    specs = ["RandomHorizontalFlip(p=1.0)", "RandomRotation(degrees=[20, 20])", "RandomInvert()"]
    archs = ("lenet5", "efficientnet_lite0")
    before = _rss_mb()
    for i in range(200):
        window.open_image(photos[i % len(photos)])
        if i % 7 == 0:
            window.set_arch(archs[(i // 7) % 2])
        if i % 3 == 0:
            controller.set_spec(specs[i % len(specs)])
        if i % 25 == 0:
            qtbot.wait(1)  # let some of them reach the worker
    qtbot.waitUntil(
        lambda: window.shown_request is not None and window.shown_request is window.latest_request,
        timeout=RESULT_TIMEOUT_MS,
    )
    shown = window.shown_result
    assert shown.image_name == window.image_name and shown.model.arch == window.arch
    assert shown.lab is not None and shown.lab.spec_text == controller.lab.spec_text()
    engine = window.worker_thread.worker._session.engine
    assert _hooks(engine.model) == 0  # every capture released its hooks
    assert _rss_mb() - before < 1500  # one model and a few images at a time, not 200


@pytest.mark.slow
def test_the_gui_thread_never_stalls_while_models_load_and_run(qtbot, window):
    probe = StallProbe()
    probe.start()
    for arch in ("resnet50", "vgg16", "efficientnet_lite0"):
        result = wait_for_result(qtbot, window, lambda a=arch: window.set_arch(a))
        assert result.model.arch == arch
    controller = install_augment_lab(window)
    assert controller.set_spec("RandomRotation(degrees=[-30, 30])", seed=1)
    sweeps = controller.sweeps
    sweeps.steps_spin.setValue(16)
    sweeps.run_button.click()
    qtbot.waitUntil(lambda: sweeps.outcome is not None, timeout=RESULT_TIMEOUT_MS)
    assert probe.stop() < 100, f"the GUI thread stalled for {probe.longest_ms} ms"
