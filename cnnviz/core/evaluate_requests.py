"""The Evaluate workspace's request: top-1/top-5 error of the window's model over a folder.

It runs :func:`cnnviz.core.evaluate.evaluate` (DataLoader worker processes decode; the
forward runs on the worker thread) on the Session's engine, the model the window shows, so
nothing is loaded twice. Between batches it lets waiting live requests run and checks for
cancellation; a cancelled run returns the counts so far, flagged cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from cnnviz.core.augment.spec import AugmentSettings
from cnnviz.core.evaluate import Evaluation, evaluate
from cnnviz.core.requests import JobContext, ModelKey, Request

if TYPE_CHECKING:
    from cnnviz.core.session import Session


@dataclass(frozen=True, eq=False)
class EvaluateRequest(Request[Evaluation]):
    """Classify every image of `source` (class folders or a path,label CSV) with `model`."""

    lane: ClassVar[str] = "evaluate"
    long: ClassVar[bool] = True
    progress_label: ClassVar[str] = "Evaluating"

    model: ModelKey
    source: str
    augment: AugmentSettings | None = None  # the lab's pipeline; its seed seeds each image
    batch_size: int = 16
    workers: int | None = None  # decoding processes (None: cnnviz.core.evaluate's default)

    def execute(self, session: Session, context: JobContext) -> Evaluation:
        """Evaluate in batches through the current augmentation pipeline, if any."""
        engine = session.engine_for(self.model, context)

        def stop() -> bool:
            context.yield_to_live()  # a slider move is answered between two batches
            return context.cancelled()

        return evaluate(
            engine,
            self.source,
            augment=self.augment.spec if self.augment is not None else None,
            seed=self.augment.seed if self.augment is not None else 0,
            batch_size=self.batch_size,
            workers=self.workers,
            progress=context.progress,
            cancelled=stop,
        )
