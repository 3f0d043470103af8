"""Backtests computed in the background: handed to an ``Executor``, stored when done.

A run accepted for the background is remembered in this process while it computes (pending,
then running) and for a while after (``keep_finished``). When it finishes its result is
stored through the caller's ``finish`` (``RunBacktest`` stores it); when it fails, or the
process stops while it computes (``close``: interrupted), the failure is recorded in the
``RunStore``, so every process of the profile (a second server on PostgreSQL too) reads it
as failed, after a restart as well (``BacktestRuns.status``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, TypeVar

from arbx.domain.auth import Permission, Principal
from arbx.domain.auth.policy import Resource, can
from arbx.domain.backtest.result import BacktestResult
from arbx.domain.backtest.run import BacktestRun, DataChange
from arbx.domain.errors import ArbxError
from arbx.ports.clock import Clock
from arbx.ports.executor import Executor, Submission, WorkerLost
from arbx.ports.run_store import RunFailure, RunStore

log = logging.getLogger("arbx.backtests")
T = TypeVar("T")

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
KEEP_FINISHED: Final = 200  # finished background runs remembered in memory
INTERRUPTED: Final = "interrupted: arbx stopped while the run was computing; run it again"
WORKER_DIED: Final = "the worker process computing this run died (out of memory?)"

Finish = Callable[[BacktestResult], Awaitable[BacktestRun]]
"""Stores a computed result under the background run's id (and returns the stored run)."""


def run_resource(owner: str | None, shared: bool) -> Resource:
    """The policy's view of a run: runs made outside the API (no owner) are visible to every
    reader."""
    return Resource(owner_id=owner or "", shared=shared or owner is None)


@dataclass(eq=False)
class BackgroundRun:
    """One run computing (or just computed) in the background of this process."""

    id: str
    created_at: datetime
    strategy: str
    bars: int
    owner: str | None
    shared: bool
    data_changed: list[DataChange] | None = None
    state: str = PENDING
    error: str | None = None
    submission: Submission[BacktestResult] | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.state in (DONE, FAILED)

    @property
    def status(self) -> str:
        """pending, running, done or failed; it only moves forward: a run whose worker has
        started stays running until it is stored (done) or failed, also while its computed
        result is being stored (the worker is finished then, the run is not)."""
        submission = self.submission
        if (
            self.state == PENDING
            and submission is not None
            and (submission.running() or submission.done())
        ):
            self.state = RUNNING
        return self.state

    @property
    def resource(self) -> Resource:
        return run_resource(self.owner, self.shared)

    def failure(self) -> RunFailure:
        return RunFailure(
            id=self.id,
            created_at=self.created_at,
            strategy=self.strategy,
            bars=self.bars,
            error=self.error or "failed",
            owner=self.owner,
            shared=self.shared,
        )


class BackgroundBacktests:
    """Starts background runs on ``executor`` and records how they end."""

    def __init__(
        self,
        *,
        runs: RunStore,
        executor: Executor,
        clock: Clock,
        keep_finished: int = KEEP_FINISHED,
    ) -> None:
        self._store = runs
        self._executor = executor
        self._clock = clock
        self._keep = keep_finished
        self._runs: dict[str, BackgroundRun] = {}

    def start(
        self,
        run: BackgroundRun,
        finish: Finish,
        compute: Callable[[T], BacktestResult],
        prepared: T,
    ) -> BackgroundRun:
        """Hand ``compute(prepared)`` to the executor (both picklable) and watch the run."""
        run.submission = self._executor.submit(compute, prepared)
        run.task = asyncio.create_task(self._watch(run, finish), name=f"backtest {run.id}")
        self._runs[run.id] = run
        self._prune()
        return run

    def in_flight(self, actor: Principal) -> list[BackgroundRun]:
        """The runs still computing that ``actor`` may read."""
        return [
            r
            for r in self._runs.values()
            if not r.done and can(actor, Permission.RESULTS_READ, r.resource)
        ]

    def running(self, run_id: str) -> BackgroundRun | None:
        """A run this process is computing, or failed (while remembered); None otherwise
        (finished runs are read from the store, and so are failures after a restart)."""
        run = self._runs.get(run_id)
        return run if run is not None and run.state != DONE else None

    async def close(self) -> None:
        """Stop: runs in flight are recorded as interrupted; the executor stops after the
        calls its workers are computing (queued ones are dropped)."""
        flying = [r for r in self._runs.values() if r.task is not None and not r.task.done()]
        for run in flying:
            assert run.task is not None
            run.task.cancel()
        await asyncio.gather(*(r.task for r in flying if r.task), return_exceptions=True)
        for run in flying:  # a task cancelled before it started never saw the cancellation
            if not run.done:
                if run.submission is not None:
                    run.submission.cancel()
                run.error = INTERRUPTED
                await self._fail(run)
        await self._executor.shutdown()

    async def _watch(self, run: BackgroundRun, finish: Finish) -> None:
        assert run.submission is not None
        try:
            result = await run.submission.result()
            await finish(result)
            run.state = DONE
            return
        except asyncio.CancelledError:
            run.submission.cancel()
            run.error = INTERRUPTED
            await self._fail(run)
            raise
        except WorkerLost as exc:  # a worker died (killed, out of memory...)
            log.error("backtest %s: %s", run.id, exc.message)
            run.error = WORKER_DIED
        except ArbxError as exc:
            run.error = f"{type(exc).__name__}: {exc.message}"
        except Exception as exc:  # a bug: keep the server up, say what happened
            log.exception("backtest %s failed", run.id)
            run.error = f"{type(exc).__name__}: {exc}"
        await self._fail(run)

    async def _fail(self, run: BackgroundRun) -> None:
        run.state = FAILED
        log.warning("backtest %s failed: %s", run.id, run.error)
        try:
            await self._store.record_failure(run.failure())
        except ArbxError as exc:
            log.warning("backtest %s failure could not be recorded: %s", run.id, exc.message)

    def _prune(self) -> None:
        finished = [r for r in self._runs.values() if r.done]
        for run in finished[: max(0, len(finished) - self._keep)]:
            del self._runs[run.id]
