"""Typed requests: each kind of work is a frozen request whose `execute` returns a frozen result.

The worker (cnnviz.qt.worker) runs `request.execute(session, context)` on its thread and
hands the result to whoever submitted the request; the CLI calls the same `execute` with a
`QUIET` context. Results hold plain data only (numpy arrays, numbers, strings), never torch
tensors, so they can cross to the GUI thread and be drawn without torch.

Lanes: the newest request of a lane wins. A request in a *long* lane (a sweep, a stability
count, later an evaluation) works in batches; between batches it calls
`context.yield_to_live()`, where the worker answers any waiting request of a short lane (the
live analysis, a receptive field) on the same thread, so a slider move is never stuck behind
a sweep, and no two threads ever run one model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from cnnviz.core.session import Session

R = TypeVar("R", covariant=True)

ImageSource = str | bytes  # a path, or encoded bytes (pasted, dropped)


@dataclass(frozen=True)
class ModelKey:
    """Which model to run: architecture, weights file, device, and whether to download."""

    arch: str
    weights_file: str | None = None
    device: str | None = None
    allow_download: bool = False
    attempt: int = 0  # a new attempt reloads the same model (to retry a download)


class JobContext(Protocol):
    """What a running request may ask of whoever runs it."""

    def progress(self, done: int, total: int) -> None:
        """Report `done` of `total` steps (total 0: unknown)."""

    def cancelled(self) -> bool:
        """True once this job was cancelled or overtaken; stop at the next check."""

    def yield_to_live(self) -> None:
        """Between batches of a long job: let waiting short requests run first."""

    def partial(self, value: object) -> None:
        """Show `value`, plain data, as the job's result so far (a loss curve growing)."""


class _Quiet:
    """A context that reports nothing and never cancels (the CLI, tests)."""

    def progress(self, done: int, total: int) -> None:
        return None

    def cancelled(self) -> bool:
        return False

    def yield_to_live(self) -> None:
        return None

    def partial(self, value: object) -> None:
        return None


QUIET: JobContext = _Quiet()


class Request(ABC, Generic[R]):
    """Base of every request; subclasses are frozen dataclasses.

    `lane` groups requests of which only the newest matters; `long` marks lanes whose
    jobs run in batches and yield to short ones; `progress_label` names the work in the
    status bar.
    """

    lane: ClassVar[str] = "live"
    long: ClassVar[bool] = False
    progress_label: ClassVar[str] = "Working"

    @abstractmethod
    def execute(self, session: Session, context: JobContext) -> R:
        """Do the work on the worker thread and return a frozen, plain-data result."""

    def serves(self, newer: Request[object]) -> bool:
        """Whether finishing this job still helps `newer`, a later request of its lane.

        Loading (or downloading) a model serves a newer analysis of the same model, so a
        new image does not restart a download. By default an overtaken job is stopped.
        """
        return False

    def shows_the_same_as(self, newer: Request[object]) -> bool:
        """Whether this job's result may still be shown once `newer` has been submitted.

        By default never: the result of an overtaken request is stale. A live analysis
        during a slider drag differs from the newer one only in the lab's settings, so its
        result is still true of what is on screen, and showing it keeps the view moving
        instead of waiting for the drag to stop.
        """
        return False
