"""Downloading weights from the window: progress, Cancel, and the untrained fallback."""

from __future__ import annotations

import dataclasses
import http.server
import threading
import time
import types

import pytest
from qt_helpers import RESULT_TIMEOUT_MS, wait_for_result

from cnnviz.core import engine as engine_module
from cnnviz.core.zoo.registry import get_arch


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    """Serves 64 MB of zeros slowly, so that a test can cancel half way."""

    size = 64 << 20

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", str(self.size))
        self.end_headers()
        chunk = b"\0" * (1 << 16)
        try:
            for _ in range(self.size // len(chunk)):
                self.wfile.write(chunk)
                time.sleep(0.002)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def slow_weights(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    server.handle_error = lambda *a: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/resnet18-0badc0de.pth"
    spec = dataclasses.replace(
        get_arch("resnet18"), torchvision_weights=types.SimpleNamespace(url=url, meta={})
    )
    real_get_arch = engine_module.get_arch
    monkeypatch.setattr(
        engine_module, "get_arch", lambda name: spec if name == "resnet18" else real_get_arch(name)
    )
    yield
    server.shutdown()
    server.server_close()


def _start_download(qtbot, window) -> list[tuple[int, int]]:
    """Pick resnet18 (served slowly) and return the live list of (job id, bytes done)."""
    seen: list[tuple[int, int]] = []
    shown = window._on_progress

    def spy(what: str, done: int, total: int) -> None:
        seen.append((window.analysis_ticket.id, done))
        shown(what, done, total)

    window._on_progress = spy  # the window hands its own progress slot to each request
    window.set_arch("resnet18")
    qtbot.waitUntil(lambda: len(seen) > 3, timeout=RESULT_TIMEOUT_MS)
    return seen


def test_download_shows_progress_and_can_be_cancelled(qtbot, window, slow_weights):
    _start_download(qtbot, window)
    assert window.progress.isVisible() and window.cancel_button.isVisible()
    assert window.progress.maximum() == _SlowHandler.size
    assert "Downloading weights" in window.statusBar().currentMessage()
    result = wait_for_result(qtbot, window, window.cancel_button.click)
    assert result.model.arch == "resnet18" and result.model.weights.untrained
    assert "cancelled" in result.model.weights.description
    assert "UNTRAINED" in window.untrained_banner.text()
    assert "cancelled" in window.untrained_banner.text()
    assert not window.cancel_button.isVisible()


def test_a_new_image_does_not_cancel_the_download_and_picking_again_retries(
    qtbot, window, samples_dir, slow_weights
):
    seen = _start_download(qtbot, window)
    coffee = str(samples_dir / "coffee.jpg")
    result = wait_for_result(qtbot, window, lambda: window.open_image(coffee))
    # The download ran to its end (the served zeros fail torchvision's hash check).
    assert result.image_name == "coffee.jpg" and result.model.arch == "resnet18"
    assert "corrupt" in result.model.weights.description
    first_attempt = {rid for rid, _ in seen}
    retry = _start_download(qtbot, window)  # the same, untrained model picked again
    assert not {rid for rid, _ in retry} & first_attempt
    wait_for_result(qtbot, window, window.cancel_button.click)


def test_closing_during_a_download_quits_within_a_second(qtbot, window, slow_weights):
    _start_download(qtbot, window)
    thread = window.worker_thread.thread
    start = time.perf_counter()
    window.close()
    assert time.perf_counter() - start < 1.0
    assert thread.isFinished() and not window.worker_busy  # the download stopped, joined
