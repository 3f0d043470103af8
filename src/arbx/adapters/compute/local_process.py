"""Calls in a pool of worker processes on this machine (spawned: no inherited locks, sockets
or event loop), so CPU-heavy work neither blocks the API nor shares its GIL."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from arbx.adapters.compute.futures import FuturesExecutor


class LocalProcessExecutor(FuturesExecutor):
    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        super().__init__(
            lambda: ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn")
            ),
            share_by_file=True,
        )
