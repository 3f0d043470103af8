"""Executors built on ``concurrent.futures``: one code path for threads and processes.

A ``FuturesExecutor`` starts its pool on first use (a process pool costs a spawn), hands
calls to it and wraps each ``concurrent.futures.Future`` as a ``Submission``. A broken pool
(a worker process died) is replaced once on submit; a call whose worker died raises
``WorkerLost``. Library types stay inside this module.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Generic, ParamSpec, TypeVar

from arbx.adapters.compute.sharing import FileSharing, ValueShared
from arbx.ports.executor import ComputeUnavailable, Executor, Shared, Submission, WorkerLost

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger("arbx.compute")

WORKER_DIED = "the worker process computing this call died (out of memory?)"


class FutureSubmission(Submission[T], Generic[T]):
    def __init__(self, future: cf.Future[T], on_broken: Callable[[], None]) -> None:
        self._future = future
        self._on_broken = on_broken

    def running(self) -> bool:
        return self._future.running()

    def done(self) -> bool:
        return self._future.done()

    def cancel(self) -> bool:
        return self._future.cancel() or self._future.cancelled()

    async def result(self) -> T:
        try:
            # cancelling the awaiting task cancels the future (when it has not started)
            return await asyncio.wrap_future(self._future)
        except BrokenProcessPool as exc:
            self._on_broken()
            raise WorkerLost(WORKER_DIED) from exc


class FuturesExecutor(Executor):
    """Calls on a ``concurrent.futures`` pool made by ``make_pool`` (lazily). With
    ``share_by_file`` (a process pool) shared values go through a temporary file, else the
    workers (threads) read the value itself."""

    def __init__(
        self, make_pool: Callable[[], cf.Executor], *, share_by_file: bool = False
    ) -> None:
        self._make_pool = make_pool
        self._pool: cf.Executor | None = None
        self._closed = False
        self._files = FileSharing() if share_by_file else None

    def share(self, value: T) -> Shared[T]:
        if self._closed:
            raise ComputeUnavailable("the executor is shut down; no new work is taken")
        return ValueShared(value) if self._files is None else self._files.share(value)

    def release(self, shared: Shared[object]) -> None:
        if self._files is not None:
            self._files.release(shared)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Submission[T]:
        if self._closed:
            raise ComputeUnavailable("the executor is shut down; no new work is taken")
        try:
            future = self._running_pool().submit(fn, *args, **kwargs)
        except BrokenProcessPool:  # a worker died earlier: start a fresh pool, once
            log.warning("the worker pool was broken; starting a new one")
            self._drop_pool()
            future = self._running_pool().submit(fn, *args, **kwargs)
        return FutureSubmission(future, self._drop_pool)

    async def shutdown(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
        if self._files is not None:
            self._files.close()

    def _running_pool(self) -> cf.Executor:
        if self._pool is None:
            self._pool = self._make_pool()
        return self._pool

    def _drop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
