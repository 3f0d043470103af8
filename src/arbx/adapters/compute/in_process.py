"""Calls on threads of this process: no pickling, no spawn; for small work, tests and the CLI.

Numpy and polars release the GIL in their kernels, so a thread keeps the event loop free.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from arbx.adapters.compute.futures import FuturesExecutor


class InProcessExecutor(FuturesExecutor):
    def __init__(self, workers: int = 4) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        super().__init__(
            lambda: ThreadPoolExecutor(max_workers=workers, thread_name_prefix="arbx-compute")
        )
