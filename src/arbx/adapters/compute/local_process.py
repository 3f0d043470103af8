"""Calls in a pool of worker processes on this machine (spawned: no inherited locks, sockets
or event loop), so CPU-heavy work neither blocks the API nor shares its GIL."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from arbx.adapters.compute.futures import FuturesExecutor


class LocalProcessExecutor(FuturesExecutor):
    def __init__(self, workers: int = 2, initializer: Callable[[], object] | None = None) -> None:
        """``initializer`` (picklable) runs once in each worker before its first call (e.g.
        loading the strategy plugins this process loaded)."""
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._workers = workers
        super().__init__(
            lambda: ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=initializer,
            ),
            share_by_file=True,
        )

    def warm(self) -> None:
        """Spawn every worker now (one no-op call each; the pool starts a process per call
        while none is idle)."""
        if self._closed:
            return
        for _ in range(self._workers):
            self.submit(_ready)


def _ready() -> None:
    """The no-op that makes a worker start (and run its initializer)."""
