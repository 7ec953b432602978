"""The one background thread that runs all model work; the newest request wins."""

from __future__ import annotations

import gc
import threading
import traceback
from typing import Any

from pyqtgraph.util.garbage_collector import GarbageCollector
from PySide6.QtCore import QObject, QThread, Signal, Slot


class Worker(QObject):
    """Lives in its own QThread and owns the core Session (imported there, lazily).

    `submit` is called from the GUI thread. It records the request as the newest of its
    kind, so a request that was overtaken while queued is skipped, and a long one (a
    download, a sweep) sees `cancelled()` turn true and stops early.
    """

    sigResult = Signal(object)  # a frozen result carrying .request_id
    sigFailed = Signal(int, str)  # request id, a message for the user
    sigProgress = Signal(int, str, int, int)  # request id, what, done, total (0: unknown)
    sigCatalog = Signal(object, object)  # list[ArchRow], list[DeviceInfo]
    _sigRequest = Signal(object)
    _sigCatalogRequest = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._latest: dict[str, Any] = {}  # request type name -> newest request
        self._cancel = threading.Event()
        self._session: Any = None
        self._sigRequest.connect(self._handle)
        self._sigCatalogRequest.connect(self._load_catalog)

    # --- GUI thread -------------------------------------------------------------
    def submit(self, request: Any) -> None:
        self._latest[type(request).__name__] = request
        self._cancel.clear()
        self._sigRequest.emit(request)

    def request_catalog(self) -> None:
        self._sigCatalogRequest.emit()

    def cancel(self) -> None:
        """Stop the running download or sweep at its next check."""
        self._cancel.set()

    # --- worker thread ------------------------------------------------------------
    def _is_stale(self, request: Any) -> bool:
        newest = self._latest.get(type(request).__name__)
        return newest is not None and request.request_id < newest.request_id

    def _should_stop(self, request: Any) -> bool:
        """Cancel pressed, or overtaken by a request that cannot use this one's work.

        A model being loaded (or downloaded) serves every newer analysis of the same model,
        so a new image or layer does not cancel it; another model, or a newer sweep, does.
        """
        if self._cancel.is_set():
            return True
        if not self._is_stale(request):
            return False
        newest = self._latest[type(request).__name__]
        serves_newest = getattr(request, "work_serves_same_model", False)
        return not serves_newest or newest.model != request.model

    @Slot()
    def _load_catalog(self) -> None:
        from cnnviz.core.device import available_devices
        from cnnviz.core.zoo.catalog import catalog

        self.sigCatalog.emit(catalog(), available_devices())

    @Slot(object)
    def _handle(self, request: Any) -> None:
        if self._is_stale(request):
            return
        from cnnviz.core.session import Session

        if self._session is None:
            self._session = Session()
        rid = request.request_id

        label = getattr(request, "progress_label", "Downloading weights")

        def progress(done: int, total: int) -> None:
            self.sigProgress.emit(rid, label, done, total)

        def cancelled() -> bool:
            return self._should_stop(request)

        try:
            result = self._session.handle(request, progress=progress, cancelled=cancelled)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message, never a crash
            self.sigFailed.emit(rid, _user_message(exc))
            return
        if result is not None and not self._is_stale(request):
            self.sigResult.emit(result)


def _user_message(exc: BaseException) -> str:
    from cnnviz.core.errors import UserError

    if isinstance(exc, UserError):
        return str(exc)
    traceback.print_exception(exc)
    return f"Unexpected error ({type(exc).__name__}): {exc}"


class _GuiThreadGarbageCollection:
    """While any worker runs, Python's cyclic collector runs on the GUI thread only.

    Automatic collection happens in whichever thread crosses the allocation threshold. In
    the worker (building a model allocates a lot) it would destroy unreachable Qt objects,
    such as a closed window's widgets, off the GUI thread: that deadlocked here, the GUI
    thread waiting for a Qt mutex and the worker for the GIL. pyqtgraph's GarbageCollector
    turns automatic collection off and collects on a GUI-thread timer instead.
    """

    users = 0
    collector: GarbageCollector | None = None

    @classmethod
    def acquire(cls) -> None:
        if cls.users == 0:
            gc.collect()  # start clean, on this (the GUI) thread
            cls.collector = GarbageCollector(interval=0.5)
        cls.users += 1

    @classmethod
    def release(cls) -> None:
        cls.users -= 1
        if cls.users == 0 and cls.collector is not None:
            cls.collector.timer.stop()
            cls.collector = None
            gc.collect()
            gc.enable()


class WorkerThread:
    """Owns the QThread and its Worker; `stop` quits and joins it."""

    def __init__(self) -> None:
        _GuiThreadGarbageCollection.acquire()
        self._stopped = False
        self.thread = QThread()
        self.thread.setObjectName("cnnviz-worker")
        self.worker = Worker()
        self.worker.moveToThread(self.thread)
        self.thread.start()

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Cancel, quit and join; False if the running job outlasted `timeout_ms`."""
        self.worker.cancel()
        self.thread.quit()
        finished = self.thread.wait(timeout_ms)
        if finished and not self._stopped:
            self._stopped = True
            _GuiThreadGarbageCollection.release()
        return finished
