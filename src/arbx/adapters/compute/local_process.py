"""Calls in worker processes on this machine (spawned: no inherited locks, sockets or event
loop), so CPU-heavy work neither blocks the API nor shares its GIL.

Each worker is its own one-process pool (a slot), so one call can be stopped for real:
``Submission.terminate`` ends the process computing that call (a strategy plugin stuck in a
call that never returns too) and the slot starts a fresh worker for the next call, while
the other workers keep computing theirs. Calls wait in one queue, in submission order, for
a free slot. A worker that dies on its own (out of memory, killed) fails its call with
``WorkerLost`` and is replaced the same way. Library types stay inside this module.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import functools
import logging
import multiprocessing
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar

from arbx.adapters.compute.sharing import FileSharing
from arbx.ports.executor import (
    CallStopped,
    ComputeUnavailable,
    Executor,
    Shared,
    Submission,
    WorkerLost,
)

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger("arbx.compute")

WORKER_DIED = "the worker process computing this call died (out of memory?)"
STOPPED = "the call was stopped: its worker process was ended"


@dataclass(eq=False)
class _Job:
    future: cf.Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    slot: _Slot | None = None
    stopped: bool = False


@dataclass(eq=False)
class _Slot:
    pool: ProcessPoolExecutor | None = None
    job: _Job | None = None


class ProcessSubmission(Submission[T], Generic[T]):
    def __init__(self, job: _Job, owner: LocalProcessExecutor) -> None:
        self._job = job
        self._owner = owner

    def running(self) -> bool:
        return self._job.future.running()

    def done(self) -> bool:
        return self._job.future.done()

    def cancel(self) -> bool:
        future = self._job.future
        return future.cancel() or future.cancelled()

    def terminate(self) -> bool:
        return self._owner.terminate(self._job)

    async def result(self) -> T:
        try:
            # cancelling the awaiting task cancels the future (when it has not started)
            value: T = await asyncio.wrap_future(self._job.future)
            return value
        except BrokenProcessPool as exc:
            raise WorkerLost(WORKER_DIED) from exc


class LocalProcessExecutor(Executor):
    def __init__(self, workers: int = 2, initializer: Callable[[], object] | None = None) -> None:
        """``initializer`` (picklable) runs once in each worker before its first call (e.g.
        loading the strategy plugins this process loaded)."""
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._initializer = initializer
        self._context = multiprocessing.get_context("spawn")
        self._slots = [_Slot() for _ in range(workers)]
        self._queue: deque[_Job] = deque()
        self._lock = threading.Lock()
        self._closed = False
        self._files = FileSharing()

    def share(self, value: T) -> Shared[T]:
        if self._closed:
            raise ComputeUnavailable("the executor is shut down; no new work is taken")
        return self._files.share(value)

    def release(self, shared: Shared[object]) -> None:
        self._files.release(shared)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Submission[T]:
        if self._closed:
            raise ComputeUnavailable("the executor is shut down; no new work is taken")
        job = _Job(cf.Future(), fn, tuple(args), dict(kwargs))
        with self._lock:
            self._queue.append(job)
        self._dispatch()
        return ProcessSubmission(job, self)

    def terminate(self, job: _Job) -> bool:
        """Stop ``job``: a queued one is dropped, a running one's worker is ended (the slot
        gets a new worker for the next call). False when it had finished already."""
        with self._lock:
            if job.future.done():
                return False
            slot = job.slot
            if slot is None or slot.job is not job:
                return job.future.cancel() or job.future.cancelled()
            job.stopped = True
            pool, slot.pool = slot.pool, None
        if pool is not None:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
        return True

    def warm(self) -> None:
        """Start every slot's worker now (one no-op call each), so the first real calls do
        not wait for a process to spawn and run its initializer."""
        if self._closed:
            return
        for _ in self._slots:
            self.submit(_ready)

    async def shutdown(self) -> None:
        self._closed = True
        with self._lock:
            queued = list(self._queue)
            self._queue.clear()
            pools = [slot.pool for slot in self._slots if slot.pool is not None]
        for job in queued:
            job.future.cancel()
        if pools:
            await asyncio.to_thread(_shutdown_all, pools)
        self._files.close()

    # -- dispatch ----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Start queued calls on free slots (any thread)."""
        while True:
            with self._lock:
                if self._closed and not self._queue:
                    return
                slot = next((s for s in self._slots if s.job is None), None)
                if slot is None or not self._queue:
                    return
                job = self._queue.popleft()
                if not job.future.set_running_or_notify_cancel():
                    continue  # cancelled while queued
                job.slot = slot
                slot.job = job
                pool = slot.pool = slot.pool or self._new_pool()
            try:
                inner = pool.submit(job.fn, *job.args, **job.kwargs)
            except BrokenProcessPool:  # the worker died while idle: a fresh one, once
                log.warning("a worker process was lost while idle; starting a new one")
                with self._lock:
                    pool = slot.pool = self._new_pool()
                inner = pool.submit(job.fn, *job.args, **job.kwargs)
            except RuntimeError as exc:  # shut down meanwhile
                self._settle(slot, job, None, ComputeUnavailable(str(exc)))
                continue
            inner.add_done_callback(functools.partial(self._finished, slot, job))

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1, mp_context=self._context, initializer=self._initializer
        )

    def _finished(self, slot: _Slot, job: _Job, inner: cf.Future[Any]) -> None:
        if job.stopped:
            self._settle(slot, job, None, CallStopped(STOPPED))
        elif inner.cancelled():
            self._settle(slot, job, None, asyncio.CancelledError())
        else:
            exc = inner.exception()
            if isinstance(exc, BrokenProcessPool):
                with self._lock:
                    broken, slot.pool = slot.pool, None
                if broken is not None:
                    broken.shutdown(wait=False, cancel_futures=True)
            self._settle(slot, job, None if exc is not None else inner.result(), exc)
        if not self._closed:
            self._dispatch()

    def _settle(self, slot: _Slot, job: _Job, value: Any, exc: BaseException | None) -> None:
        with self._lock:
            if slot.job is job:
                slot.job = None
        if exc is None:
            job.future.set_result(value)
        else:
            job.future.set_exception(exc)


def _shutdown_all(pools: list[ProcessPoolExecutor]) -> None:
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


def _ready() -> None:
    """The no-op that makes a worker start (and run its initializer)."""
