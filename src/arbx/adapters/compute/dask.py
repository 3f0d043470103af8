"""Calls on a Dask distributed cluster (``[compute] scheduler = "tcp://host:8786"``).

The adapter keeps its own first-in first-out queue and hands a call to the cluster only when
a worker thread is free (the cluster's total threads), so "queued" and "running" mean what
the ``Executor`` contract says: a queued call can be cancelled and never runs, a call on a
worker runs to its end. ``share`` scatters a value to every worker once
(``Client.scatter(broadcast=True)``); a call given the handle receives the worker's copy.
A call whose worker died (Dask gives up with ``KilledWorker``) raises ``WorkerLost``.
Library types stay inside this module.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar

from arbx.adapters.compute.sharing import ValueShared
from arbx.ports.executor import ComputeUnavailable, Executor, Shared, Submission, WorkerLost

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger("arbx.compute")

WORKER_DIED = "the Dask worker computing this call died (out of memory?)"


class DaskShared(Shared[T], Generic[T]):
    """A value scattered to every worker; only meaningful as an argument of ``submit``."""

    def __init__(self, future: Any) -> None:
        self.future = future

    def get(self) -> T:
        value: T = self.future.result()  # outside a call: fetch it from the cluster
        return value


def _call(fn: Callable[..., T], shared_at: tuple[int, ...], *args: Any, **kwargs: Any) -> T:
    """Runs on a worker: Dask has replaced each scattered future by its value; hand the
    call handles again, as it expects."""
    given = [ValueShared(a) if i in shared_at else a for i, a in enumerate(args)]
    return fn(*given, **kwargs)


class _Call(Submission[T], Generic[T]):
    def __init__(self, owner: DaskExecutor, fn: Callable[..., T], args: Any, kwargs: Any) -> None:
        self._owner = owner
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.state = "queued"  # queued -> running -> done | cancelled
        self.outcome: asyncio.Future[T] = owner.loop.create_future()

    def running(self) -> bool:
        return self.state == "running"

    def done(self) -> bool:
        return self.state in ("done", "cancelled")

    def cancel(self) -> bool:
        if self.state == "queued":
            self._owner.drop(self)
            return True
        return self.state == "cancelled"

    def cancelled(self) -> None:
        self.state = "cancelled"
        if not self.outcome.done():
            self.outcome.cancel()

    async def result(self) -> T:
        try:
            return await asyncio.shield(self.outcome)
        except asyncio.CancelledError:
            if not self.outcome.done() or self.outcome.cancelled():
                self.cancel()
            raise


class DaskExecutor(Executor):
    """Calls on the cluster whose scheduler is at ``address`` (or on ``client``, an open
    ``distributed.Client``, e.g. of a ``LocalCluster`` in tests); connects on first use.
    ``max_in_flight`` caps the calls on the cluster at once (default: its worker threads)."""

    def __init__(
        self, address: str | None = None, *, client: Any = None, max_in_flight: int | None = None
    ) -> None:
        if address is None and client is None:
            raise ValueError("give the scheduler address (tcp://host:8786) or a client")
        self._address = address
        self._client = client
        self._own_client = client is None
        self._queue: collections.deque[_Call[Any]] = collections.deque()
        self._running: set[_Call[Any]] = set()
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        self._slots = max_in_flight or 0
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _connected(self) -> Any:
        if self._client is None:
            import distributed

            try:
                self._client = distributed.Client(  # type: ignore[no-untyped-call]
                    self._address, set_as_default=False, timeout="10s"
                )
            except OSError as exc:
                raise ComputeUnavailable(
                    f"the Dask scheduler at {self._address} is unreachable: {exc}"
                ) from exc
        if self._slots == 0:
            self._slots = max(1, sum(self._client.nthreads().values()))
        return self._client

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Submission[T]:
        if self._closed:
            raise ComputeUnavailable("the executor is shut down; no new work is taken")
        self._connected()
        call: _Call[T] = _Call(self, fn, args, kwargs)
        self._queue.append(call)
        self._dispatch()
        return call

    def drop(self, call: _Call[Any]) -> None:
        with contextlib.suppress(ValueError):
            self._queue.remove(call)
        call.cancelled()

    def _dispatch(self) -> None:
        client = self._client
        while self._queue and len(self._running) < self._slots and client is not None:
            call = self._queue.popleft()
            shared_at = tuple(i for i, a in enumerate(call.args) if isinstance(a, DaskShared))
            args = [a.future if isinstance(a, DaskShared) else a for a in call.args]
            future = client.submit(_call, call.fn, shared_at, *args, pure=False, **call.kwargs)
            call.state = "running"
            self._running.add(call)
            loop = self.loop

            def finished(
                f: Any, call: _Call[Any] = call, loop: asyncio.AbstractEventLoop = loop
            ) -> None:
                loop.call_soon_threadsafe(self._finish, call, f)

            future.add_done_callback(finished)

    def _finish(self, call: _Call[Any], future: Any) -> None:
        self._running.discard(call)
        call.state = "done"
        if not call.outcome.done():
            if future.cancelled():
                call.outcome.cancel()
            else:
                exc = future.exception()
                if exc is None:
                    call.outcome.set_result(future.result())
                elif type(exc).__name__ == "KilledWorker":
                    call.outcome.set_exception(WorkerLost(WORKER_DIED))
                else:
                    call.outcome.set_exception(exc)
        if not self._closed:
            self._dispatch()

    def share(self, value: T) -> Shared[T]:
        if self._closed:
            raise ComputeUnavailable("the executor is shut down; no new work is taken")
        # a list would be scattered element by element: scatter the value as one item
        (future,) = self._connected().scatter([value], broadcast=True, hash=False)
        return DaskShared(future)

    def release(self, shared: Shared[object]) -> None:
        if isinstance(shared, DaskShared):
            shared.future.release()

    async def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        while self._queue:
            self._queue.popleft().cancelled()
        running = [c.outcome for c in self._running]
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        if self._own_client and self._client is not None:
            await asyncio.to_thread(self._client.close)
