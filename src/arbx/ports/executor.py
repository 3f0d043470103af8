"""The executor port: where CPU-heavy calls (a backtest, one fold of a sweep) run.

In this process (threads), in a local process pool, or later on a Dask cluster: the use cases
hand over a picklable callable with its arguments and await the result, whatever runs it.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import ParamSpec, Protocol, TypeVar

from arbx.domain.errors import ExternalError

P = ParamSpec("P")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class ComputeUnavailable(ExternalError):
    """The executor cannot take the call: it is shut down."""

    title = "compute unavailable"


class WorkerLost(ComputeUnavailable):
    """The worker computing a call died (killed, out of memory...); the call has no result.
    The executor replaces the worker for the next call."""

    title = "worker lost"


class CallStopped(ComputeUnavailable):
    """The call was stopped while it ran (``Submission.terminate``): it has no result."""

    title = "call stopped"


class Submission(Protocol[T_co]):
    """One call handed to an executor."""

    @abstractmethod
    def running(self) -> bool:
        """True while a worker computes it (False when queued or finished)."""

    @abstractmethod
    def done(self) -> bool:
        """True once it finished, failed or was cancelled."""

    @abstractmethod
    def cancel(self) -> bool:
        """Stop it if it has not started: True when it will never run (or was cancelled
        already), False when it is running or finished (it then runs to its end)."""

    def terminate(self) -> bool:
        """Stop it even while it runs, where the executor can: the local process executor
        ends the worker process computing it (a call stuck for good too) and starts a fresh
        worker for the calls that follow; ``result`` then raises ``CallStopped``. True when
        it will never deliver a result. Executors that cannot stop a running call (threads
        of this process, Dask) only drop a call not yet started, as ``cancel`` (the default
        here): False for a running call, which runs to its end."""
        return self.cancel()

    @abstractmethod
    async def result(self) -> T_co:
        """Wait for the value. The call's exception is raised again here, same class and
        message; ``asyncio.CancelledError`` when the call was cancelled; ``WorkerLost`` when
        its worker died. Cancelling the waiting task cancels a call that has not started."""


class Shared(Protocol[T_co]):
    """A value shipped to the workers once (the bars of a study), not with every call.

    Pass the handle as an argument of ``submit``; inside the call, ``get()`` returns the
    value (a worker loads it on first use and keeps it for the calls that follow). The
    handle itself is small to pickle."""

    @abstractmethod
    def get(self) -> T_co: ...


class Executor(Protocol):
    """Runs calls away from the event loop.

    Contract (tests/contract/test_executor.py holds every adapter to it):
    - ``submit`` returns at once; the callable and its arguments must be picklable (a
      process or a cluster may run it). Calls run in submission order as workers free up.
    - results and exceptions come back through ``Submission.result``, unchanged.
    - ``share`` makes a ``Shared`` handle of a picklable value, sent to each worker at most
      once however many calls use it; ``release`` frees it (calls still using it may fail).
    - ``shutdown`` drops the calls not started (their ``result`` raises
      ``asyncio.CancelledError``), waits for the running ones, and releases the workers; it
      may be called twice. ``submit`` after it raises ``ComputeUnavailable``.
    - ``warm`` may be called at any time, any number of times; calls work as without it.
    """

    @abstractmethod
    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Submission[T]: ...

    @abstractmethod
    def share(self, value: T) -> Shared[T]: ...

    @abstractmethod
    def release(self, shared: Shared[object]) -> None: ...

    @abstractmethod
    async def shutdown(self) -> None: ...

    def warm(self) -> None:
        """Start the workers now rather than at the first call (``arbx serve`` at start-up,
        so the first study does not wait for worker processes to start). Returns at once;
        a no-op where there is nothing to start."""
        return None
