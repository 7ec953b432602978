"""The one background thread that runs all model work.

`submit(request, on_result, ...)` names who receives the result, the error and the progress
of that job, and nothing else hears of it. Per lane (cnnviz.core.requests) the newest
request wins: an older one waiting in the mailbox is dropped, a running one sees
`cancelled()` turn true (unless it `serves` the newer one, like a model download serving a
newer image of the same model), and a result that is no longer the newest of its lane is
never delivered. `cancel(ticket)` stops exactly that job.

The worker thread takes short lanes first. A long job (a sweep) calls
`context.yield_to_live()` between batches, and the worker answers waiting short requests
right there, on the same thread: live updates are never stuck behind a long job, and no two
threads ever run one model.
"""

from __future__ import annotations

import gc
import itertools
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

if TYPE_CHECKING:
    from cnnviz.core.requests import Request
    from cnnviz.core.session import Session

R = TypeVar("R")
GIL_SWITCH_INTERVAL_S = 0.001


@dataclass(frozen=True)
class Ticket:
    """A submitted job: its id and lane, to cancel it or to tell whether it is the newest."""

    id: int
    lane: str


@dataclass(frozen=True)
class Failure:
    """Why a job failed: a message for the user and the error's type (to react to)."""

    message: str
    error: type[BaseException]

    def is_a(self, kind: type[BaseException]) -> bool:
        """Whether the error was a `kind`."""
        return issubclass(self.error, kind)


@dataclass(eq=False)
class _Job(Generic[R]):
    ticket: Ticket
    request: Request[R]
    on_result: Callable[[R], None]
    on_failed: Callable[[Failure], None] | None
    on_progress: Callable[[str, int, int], None] | None
    on_partial: Callable[[Any], None] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


class _Mailbox:
    """Jobs waiting per lane (newest only) and the newest job id per lane; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting: dict[str, _Job[Any]] = {}
        self.newest: dict[str, _Job[Any]] = {}
        self.jobs: dict[int, _Job[Any]] = {}  # submitted and not yet answered
        self.closed = False  # after stop(): nothing more is delivered
        self.shown: dict[str, int] = {}  # per lane, the id of the last job delivered

    def put(self, job: _Job[Any]) -> None:
        with self.lock:
            lane = job.ticket.lane
            dropped = self.waiting.pop(lane, None)
            if dropped is not None:
                self.jobs.pop(dropped.ticket.id, None)
            self.waiting[lane] = job
            self.newest[lane] = job
            self.jobs[job.ticket.id] = job

    def take(self, *, short_only: bool) -> _Job[Any] | None:
        """The next job to run: a short lane's first, else (unless short_only) a long one."""
        with self.lock:
            for lane, job in self.waiting.items():
                if not job.request.long:
                    return self.waiting.pop(lane)
            if short_only:
                return None
            for lane in list(self.waiting):
                return self.waiting.pop(lane)
            return None

    def is_newest(self, job: _Job[Any]) -> bool:
        with self.lock:
            return self.newest.get(job.ticket.lane) is job

    def deliverable(self, job: _Job[Any]) -> bool:
        """The newest of its lane, or an older one whose result is still true of the newest
        (a slider drag), and never older than what its lane last delivered."""
        with self.lock:
            lane = job.ticket.lane
            newest = self.newest.get(lane)
            if self.closed or newest is None or job.ticket.id <= self.shown.get(lane, 0):
                return False
            return newest is job or job.request.shows_the_same_as(newest.request)

    def delivered(self, job: _Job[Any]) -> None:
        with self.lock:
            self.shown[job.ticket.lane] = job.ticket.id

    def overtaken(self, job: _Job[Any]) -> bool:
        """A newer job of the lane arrived that this one's work does not serve."""
        with self.lock:
            newest = self.newest.get(job.ticket.lane)
        return newest is not job and newest is not None and not job.request.serves(newest.request)


class _Context:
    """The JobContext a running job sees."""

    def __init__(self, worker: Worker, job: _Job[Any]) -> None:
        self._worker = worker
        self._job = job

    def progress(self, done: int, total: int) -> None:
        self._worker._sigProgress.emit(self._job.ticket.id, done, total)

    def partial(self, value: object) -> None:
        self._worker._sigPartial.emit(self._job.ticket.id, value)

    def cancelled(self) -> bool:
        job = self._job
        return job.cancel.is_set() or self._worker.mailbox.overtaken(job)

    def yield_to_live(self) -> None:
        self._worker.run_waiting(short_only=True)


class Worker(QObject):
    """Lives in the worker QThread and owns the core Session (imported there, lazily)."""

    _sigWake = Signal()
    _sigDone = Signal(int, object)  # job id, result
    _sigFailed = Signal(int, object)  # job id, Failure (None: dropped without a word)
    _sigProgress = Signal(int, int, int)  # job id, done, total (0: unknown)
    _sigPartial = Signal(int, object)  # job id, the job's plain-data result so far

    def __init__(self, mailbox: _Mailbox) -> None:
        super().__init__()
        self.mailbox = mailbox
        self._session: Session | None = None
        self._sigWake.connect(self._drain)

    @Slot()
    def _drain(self) -> None:
        self.run_waiting(short_only=False)

    def run_waiting(self, *, short_only: bool) -> None:
        """Run waiting jobs until none is left (only short lanes' when `short_only`)."""
        while (job := self.mailbox.take(short_only=short_only)) is not None:
            self._run(job)

    def _run(self, job: _Job[Any]) -> None:
        context = _Context(self, job)
        if context.cancelled():
            self._sigFailed.emit(job.ticket.id, None)  # forgotten without a word
            return
        if self._session is None:
            from cnnviz.core.session import Session

            self._session = Session()
        try:
            result = self._session.run(job.request, context)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message, never a crash
            self._sigFailed.emit(job.ticket.id, Failure(_user_message(exc), type(exc)))
            return
        self._sigDone.emit(job.ticket.id, result)


def _user_message(exc: BaseException) -> str:
    from cnnviz.core.errors import UserError

    if isinstance(exc, UserError):
        return str(exc)
    traceback.print_exception(exc)
    return f"Unexpected error ({type(exc).__name__}): {exc}"


class _Dispatcher(QObject):
    """On the GUI thread: hands each job's signals to that job's receivers only."""

    def __init__(self, mailbox: _Mailbox) -> None:
        super().__init__()
        self.mailbox = mailbox

    def _job(self, job_id: int, *, finished: bool) -> _Job[Any] | None:
        with self.mailbox.lock:
            job = self.mailbox.jobs.pop(job_id, None) if finished else self.mailbox.jobs.get(job_id)
        if job is None or not self.mailbox.deliverable(job):
            return None  # stale: its result never reaches the screen
        return job

    @Slot(int, object)
    def on_done(self, job_id: int, result: object) -> None:
        job = self._job(job_id, finished=True)
        if job is not None:
            self.mailbox.delivered(job)
            job.on_result(result)

    @Slot(int, object)
    def on_failed(self, job_id: int, failure: Failure | None) -> None:
        job = self._job(job_id, finished=True)
        if job is None or not self.mailbox.is_newest(job):
            return  # an overtaken job's failure is of no interest any more
        self.mailbox.delivered(job)
        if job.on_failed is not None and failure is not None:
            job.on_failed(failure)

    @Slot(int, int, int)
    def on_progress(self, job_id: int, done: int, total: int) -> None:
        job = self._job(job_id, finished=False)
        if job is not None and job.on_progress is not None:
            job.on_progress(job.request.progress_label, done, total)

    @Slot(int, object)
    def on_partial(self, job_id: int, value: object) -> None:
        job = self._job(job_id, finished=False)
        if job is not None and job.on_partial is not None and self.mailbox.is_newest(job):
            job.on_partial(value)


class _GuiThreadGarbageCollection:
    """While any worker runs, Python's cyclic collector runs on the GUI thread only.

    Automatic collection happens in whichever thread crosses the allocation threshold. In
    the worker (building a model allocates a lot) it would destroy unreachable Qt objects,
    such as a closed window's widgets, off the GUI thread: that deadlocked here, the GUI
    thread waiting for a Qt mutex and the worker for the GIL. So automatic collection is
    off and a GUI-thread timer collects instead, as pyqtgraph's GarbageCollector does, but
    every 10 ms rather than every second: a collection's pause grows with the objects made
    since the last one, and building a model makes hundreds of thousands (a 1 s interval
    paused the GUI thread for 250 ms). The objects alive once torch is loaded are frozen
    out of later collections (gc.freeze), so a full collection no longer walks them all.
    """

    users = 0
    timer: QTimer | None = None
    frozen = False

    @classmethod
    def acquire(cls) -> None:
        if cls.users == 0:
            gc.collect()  # start clean, on this (the GUI) thread
            gc.disable()
            cls.timer = QTimer()
            cls.timer.timeout.connect(cls._check)
            cls.timer.start(10)
        cls.users += 1

    @classmethod
    def _check(cls) -> None:
        young, middle, old = gc.get_count()
        first, second, third = gc.get_threshold()
        if young > first:
            gc.collect(0)
            if middle > second:
                gc.collect(1)
                if old > third:
                    gc.collect(2)

    @classmethod
    def freeze_startup(cls) -> None:
        """Once torch and the first model are loaded: keep them out of later collections."""
        if not cls.frozen:
            cls.frozen = True
            gc.collect()
            gc.freeze()

    @classmethod
    def release(cls) -> None:
        cls.users -= 1
        if cls.users == 0 and cls.timer is not None:
            cls.timer.stop()
            cls.timer = None
            gc.collect()
            gc.enable()


def freeze_startup_objects() -> None:
    """Call once the first result is shown (see _GuiThreadGarbageCollection)."""
    _GuiThreadGarbageCollection.freeze_startup()


class WorkerThread:
    """The GUI thread's handle on the worker: submit, cancel, stop."""

    def __init__(self) -> None:
        _GuiThreadGarbageCollection.acquire()
        # The worker runs Python between torch calls (building models, tracing layers): hand
        # the GIL back to the GUI thread after 1 ms rather than CPython's default 5 ms.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        self._stopped = False
        self._ids = itertools.count(1)
        self.mailbox = _Mailbox()
        self.thread = QThread()
        self.thread.setObjectName("cnnviz-worker")
        self.worker = Worker(self.mailbox)
        self.worker.moveToThread(self.thread)
        self.dispatcher = _Dispatcher(self.mailbox)
        self.worker._sigDone.connect(self.dispatcher.on_done)
        self.worker._sigFailed.connect(self.dispatcher.on_failed)
        self.worker._sigProgress.connect(self.dispatcher.on_progress)
        self.worker._sigPartial.connect(self.dispatcher.on_partial)
        self.thread.start()

    def submit(
        self,
        request: Request[R],
        on_result: Callable[[R], None],
        *,
        on_failed: Callable[[Failure], None] | None = None,
        on_progress: Callable[[str, int, int], None] | None = None,
        on_partial: Callable[[Any], None] | None = None,
    ) -> Ticket:
        """Queue `request` as the newest of its lane; only these callbacks hear of it
        (`on_partial` of what the job shows before it ends, if it does)."""
        ticket = Ticket(next(self._ids), request.lane)
        self.mailbox.put(_Job(ticket, request, on_result, on_failed, on_progress, on_partial))
        self.worker._sigWake.emit()
        return ticket

    def cancel(self, ticket: Ticket | None) -> None:
        """Stop the job `ticket` names at its next check; nothing else is touched."""
        if ticket is None:
            return
        with self.mailbox.lock:
            job = self.mailbox.jobs.get(ticket.id)
        if job is not None:
            job.cancel.set()

    def is_current(self, ticket: Ticket | None) -> bool:
        """Whether `ticket` is the newest job of its lane and still unanswered."""
        if ticket is None:
            return False
        with self.mailbox.lock:
            job = self.mailbox.jobs.get(ticket.id)
            return job is not None and self.mailbox.newest.get(ticket.lane) is job

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Cancel everything, quit and join; False if the running job outlasted `timeout_ms`."""
        with self.mailbox.lock:
            self.mailbox.closed = True
            for job in self.mailbox.jobs.values():
                job.cancel.set()
            self.mailbox.waiting.clear()
        self.thread.quit()
        finished = self.thread.wait(timeout_ms)
        if finished and not self._stopped:
            self._stopped = True
            _GuiThreadGarbageCollection.release()
        return finished
