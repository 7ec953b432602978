"""Seeding torch's and Python's random generators, which are process-wide, one thread at a time.

Reproducible work (an augmentation, dropout passes, a re-initialisation) seeds the global
generators for a block and leaves them as they were. Two threads doing so at once would draw
from each other's seeded streams; the lock makes them take turns. (Only the worker thread
seeds today; the session's helper thread draws pictures and never touches them.)
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

# Re-entrant: a long job seeded on the worker thread may answer a live request (which
# augments, seeded too) between its batches, on the same thread.
RNG_LOCK = threading.RLock()


@contextmanager
def seeded_rng(seed: int, *, accelerators: bool = True) -> Iterator[None]:
    """Seed torch and Python's `random` with `seed` inside the block, holding RNG_LOCK;
    afterwards the CPU generator and Python's are put back.

    With `accelerators` (as `torch.manual_seed` does) every accelerator's generator is
    seeded too (not put back, as `torch.random.fork_rng(devices=[])` leaves them). Without,
    only the CPU's: enough for work on CPU tensors, and much cheaper while CUDA is not
    initialised (torch.manual_seed then formats a stack trace to queue the seed).
    """
    with RNG_LOCK:
        python_state = random.getstate()
        cpu_state = torch.get_rng_state()
        try:
            if accelerators:
                torch.manual_seed(seed)
            else:
                torch.default_generator.manual_seed(seed)
            random.seed(seed)
            yield
        finally:
            torch.set_rng_state(cpu_state)
            random.setstate(python_state)
