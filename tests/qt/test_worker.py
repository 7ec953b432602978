"""The worker on its own: routing, newest-wins per lane, per-job cancel, yielding to live."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import ClassVar

import pytest

from cnnviz.core.requests import JobContext, Request
from cnnviz.qt.worker import Failure, WorkerThread

TIMEOUT_MS = 30_000
LOG: list[str] = []  # what ran, in order, across requests (the worker thread appends)
_LOG_LOCK = threading.Lock()


def _log(entry: str) -> None:
    with _LOG_LOCK:
        LOG.append(entry)


@dataclass(frozen=True, eq=False)
class Echo(Request[str]):
    """A short (live-lane) request: returns its text after `delay` seconds."""

    text: str
    delay: float = 0.0

    def execute(self, session: object, context: JobContext) -> str:
        time.sleep(self.delay)
        _log(f"echo {self.text}")
        return self.text


@dataclass(frozen=True, eq=False)
class Batches(Request[tuple[int, bool]]):
    """A long job: `n` batches of `delay` seconds; returns (batches done, cancelled)."""

    lane: ClassVar[str] = "batch"
    long: ClassVar[bool] = True
    progress_label: ClassVar[str] = "Batches"

    n: int
    delay: float = 0.05

    def execute(self, session: object, context: JobContext) -> tuple[int, bool]:
        for i in range(self.n):
            context.yield_to_live()
            if context.cancelled():
                return i, True
            time.sleep(self.delay)
            _log(f"batch {i}")
            context.progress(i + 1, self.n)
        return self.n, False


@dataclass(frozen=True, eq=False)
class Broken(Request[str]):
    def execute(self, session: object, context: JobContext) -> str:
        from cnnviz.core.errors import UnknownLayerError

        raise UnknownLayerError("model has no layer 'x'")


@pytest.fixture
def worker(qtbot):
    LOG.clear()
    thread = WorkerThread()
    yield thread
    assert thread.stop(10_000)


def test_each_result_goes_only_to_its_own_receiver(qtbot, worker):
    got_a: list[str] = []
    got_b: list[int] = []
    worker.submit(Echo("a"), got_a.append)
    worker.submit(Batches(2, 0.0), lambda r: got_b.append(r[0]))
    qtbot.waitUntil(lambda: bool(got_a and got_b), timeout=TIMEOUT_MS)
    assert got_a == ["a"] and got_b == [2]


def test_the_newest_request_of_a_lane_wins_and_no_stale_result_arrives(qtbot, worker):
    shown: list[str] = []
    worker.submit(Echo("first", delay=0.3), shown.append)
    time.sleep(0.05)  # "first" is running now
    for text in ("second", "third", "fourth"):
        worker.submit(Echo(text), shown.append)
    qtbot.waitUntil(lambda: "fourth" in shown, timeout=TIMEOUT_MS)
    qtbot.wait(200)
    assert shown == ["fourth"]  # "first" finished but was stale; 2nd and 3rd never ran
    assert "echo second" not in LOG and "echo third" not in LOG


def test_cancel_stops_exactly_the_job_it_names(qtbot, worker):
    long_results: list[tuple[int, bool]] = []
    live: list[str] = []
    ticket = worker.submit(Batches(200), long_results.append)
    qtbot.waitUntil(lambda: "batch 1" in LOG, timeout=TIMEOUT_MS)
    worker.submit(Echo("live"), live.append)
    worker.cancel(ticket)
    qtbot.waitUntil(lambda: bool(long_results and live), timeout=TIMEOUT_MS)
    done, cancelled = long_results[0]
    assert cancelled and done < 200
    assert live == ["live"]  # the live request was not cancelled with it


def test_live_requests_are_answered_between_batches_of_a_long_job(qtbot, worker):
    long_results: list[tuple[int, bool]] = []
    live: list[str] = []
    progress: list[tuple[str, int, int]] = []
    worker.submit(
        Batches(40),
        long_results.append,
        on_progress=lambda what, done, total: progress.append((what, done, total)),
    )
    qtbot.waitUntil(lambda: "batch 2" in LOG, timeout=TIMEOUT_MS)
    worker.submit(Echo("slider"), live.append)
    qtbot.waitUntil(lambda: bool(live), timeout=TIMEOUT_MS)
    assert not long_results  # answered while the long job is still running
    qtbot.waitUntil(lambda: bool(long_results), timeout=TIMEOUT_MS)
    assert long_results == [(40, False)]
    position = LOG.index("echo slider")
    assert 2 <= position < len(LOG) - 1 and LOG[position + 1].startswith("batch")
    assert progress[-1] == ("Batches", 40, 40)


def test_a_failure_reaches_its_receiver_with_its_type(qtbot, worker):
    from cnnviz.core.errors import UnknownLayerError, UserError

    failures: list[Failure] = []
    worker.submit(Broken(), lambda _r: None, on_failed=failures.append)
    qtbot.waitUntil(lambda: bool(failures), timeout=TIMEOUT_MS)
    assert failures[0].message == "model has no layer 'x'"
    assert failures[0].is_a(UnknownLayerError) and failures[0].is_a(UserError)


@dataclass(frozen=True, eq=False)
class DragStep(Request[int]):
    """A slider position: its result is still true of a newer position (same image)."""

    position: int
    delay: float = 0.1

    def execute(self, session: object, context: JobContext) -> int:
        time.sleep(self.delay)
        return self.position

    def shows_the_same_as(self, newer: Request[object]) -> bool:
        return isinstance(newer, DragStep)


def test_a_drag_shows_finished_positions_in_order_and_ends_on_the_newest(qtbot, worker):
    shown: list[int] = []
    for position in range(1, 40):  # a drag far faster than the work
        worker.submit(DragStep(position), shown.append)
        time.sleep(0.01)
    qtbot.waitUntil(lambda: bool(shown) and shown[-1] == 39, timeout=TIMEOUT_MS)
    assert 2 <= len(shown) < 39  # the view moved during the drag, without every step
    assert shown == sorted(shown)  # never an older position after a newer one
    # An ordinary request's result is dropped once overtaken (see the newest-wins test).
