"""A JobContext for tests: records progress and yields, cancels on demand."""

from __future__ import annotations

from collections.abc import Callable


class RecordingContext:
    """Records progress; `cancelled()` asks `stop` (default: never)."""

    def __init__(self, stop: Callable[[], bool] | None = None) -> None:
        self.seen: list[tuple[int, int]] = []
        self.yields = 0
        self.partials: list[object] = []
        self._stop = stop

    def progress(self, done: int, total: int) -> None:
        self.seen.append((done, total))

    def cancelled(self) -> bool:
        return self._stop is not None and self._stop()

    def yield_to_live(self) -> None:
        self.yields += 1

    def partial(self, value: object) -> None:
        self.partials.append(value)


def stop_after(checks: int) -> Callable[[], bool]:
    """A `stop` that turns true after `checks` checks."""
    count = [0]

    def stop() -> bool:
        count[0] += 1
        return count[0] > checks

    return stop
