"""Backtests computed in the background: handed to an ``Executor``, stored when done.

A run accepted for the background is remembered in this process while it computes (pending,
then running) and for a while after (``keep_finished``). When it finishes its result is
stored through the caller's ``finish`` (``RunBacktest`` stores it); when it fails, or the
process stops while it computes (``close``: interrupted), the failure is recorded in the
``RunStore``, so every process of the profile (a second server on PostgreSQL too) reads it
as failed, after a restart as well (``BacktestRuns.status``).

A run can be stopped: a user's cancel (``CancelBacktest``: the owner, or a holder of
``results:read_any``) or the plugin time limit (``time_limit_s`` of a plugin run, enforced
from here so that a single plugin call that never returns is stopped too). Stopping calls
``Submission.terminate``: the local process executor ends the worker process computing
the run and starts a fresh one, so the run stops for real. An executor that cannot stop a
running call (threads of this process, Dask) only drops a call not yet started; a running
one is recorded as cancelled at once and its result, if it ever comes, is thrown away (in a
thread a plugin is still stopped at its time limit between two calls into it). A cancel
asked from another process (``arbx backtest cancel ID`` against a server's run) is an audit
event ``backtests.cancel`` that the process computing the run polls for. A cancelled run is
recorded with status ``cancelled``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, TypeVar

from arbx.app.authorize import AuditTrail
from arbx.domain.auth import AuditOutcome, AuditQuery, Permission, Principal
from arbx.domain.auth.policy import Resource, can, require
from arbx.domain.backtest.result import BacktestResult
from arbx.domain.backtest.run import BacktestRun, DataChange
from arbx.domain.errors import ArbxError, Conflict, NotFound
from arbx.domain.strategies.plugin import StrategyFailed
from arbx.ports.audit_log import AuditLog
from arbx.ports.clock import Clock
from arbx.ports.executor import CallStopped, Executor, Submission, WorkerLost
from arbx.ports.run_store import RunFailure, RunStore

log = logging.getLogger("arbx.backtests")
T = TypeVar("T")

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
CANCELLED: Final = "cancelled"
CANCEL_ACTION: Final = "backtests.cancel"
STOP_GRACE_S: Final = 2.0  # past a plugin's time limit before its worker is ended
POLL_S: Final = 1.0  # how often cancels asked from other processes are read
MAX_RUN_ID: Final = 128
SETTLE_S: Final = 10.0  # a cancel waits this long for the run to be recorded as cancelled
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
    # a plugin run: stopped (its worker ended) this long after it started computing
    time_limit_s: float | None = None
    # set when it is being stopped: the state and error it ends with
    stop_as: str | None = None
    stop_error: str | None = None

    @property
    def done(self) -> bool:
        return self.state in (DONE, FAILED, CANCELLED)

    @property
    def status(self) -> str:
        """pending, running, done, failed or cancelled; it only moves forward: a run whose worker has
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
            status=CANCELLED if self.state == CANCELLED else FAILED,
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
        audit: AuditLog | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        """``audit``: where cancels asked from other processes are read (None: only this
        process's ``cancel``), every ``poll_s`` seconds while runs compute."""
        self._store = runs
        self._executor = executor
        self._clock = clock
        self._keep = keep_finished
        self._runs: dict[str, BackgroundRun] = {}
        self._audit = audit
        self._poll_s = poll_s
        self._poller: asyncio.Task[None] | None = None
        self._watchdogs: set[asyncio.Task[None]] = set()

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
        if run.time_limit_s:
            self._keep_task(self._limit(run, run.submission, run.time_limit_s))
        if self._audit is not None and (self._poller is None or self._poller.done()):
            self._poller = asyncio.create_task(self._poll_cancels(), name="backtest cancels")
        self._prune()
        return run

    async def compute_now(
        self,
        compute: Callable[[T], BacktestResult],
        prepared: T,
        *,
        strategy: str,
        time_limit_s: float,
    ) -> BacktestResult:
        """``compute(prepared)`` on the executor while the caller waits, with the plugin
        time limit enforced from here: a call still running ``time_limit_s`` (plus a short
        grace) after it started has its worker ended and fails as ``StrategyFailed``."""
        submission = self._executor.submit(compute, prepared)
        stopped: list[bool] = []
        watchdog = asyncio.create_task(
            self._limit(None, submission, time_limit_s, stopped), name=f"limit {strategy}"
        )
        try:
            return await submission.result()
        except CallStopped:
            if not stopped:
                raise
            raise StrategyFailed(_over_limit(strategy, time_limit_s), field="strategy") from None
        finally:
            watchdog.cancel()

    def get(self, run_id: str) -> BackgroundRun | None:
        """A run this process computes or computed (while remembered)."""
        return self._runs.get(run_id)

    def cancel(self, run_id: str, *, by: str) -> BackgroundRun:
        """Stop run ``run_id`` of this process (``NotFound``: not one of its runs;
        ``Conflict``: it has ended); it ends ``cancelled``."""
        run = self._runs.get(run_id)
        if run is None:
            raise NotFound(f"backtest run {run_id!r} is not computing in this process")
        if run.done or run.stop_as is not None:
            raise Conflict(
                f"backtest run {run_id} is {run.stop_as or run.state} already; nothing to cancel"
            )
        self._stop(run, CANCELLED, f"cancelled by {by}")
        return run

    async def settled(self, run: BackgroundRun, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until ``run`` has ended and is recorded."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not run.done and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        return run.done

    def _stop(self, run: BackgroundRun, state: str, error: str) -> None:
        run.stop_as, run.stop_error = state, error
        submission = run.submission
        if submission is None or submission.terminate():
            return  # it ends in ``_watch`` (CallStopped, or cancelled before it started)
        # running where it cannot be stopped (a thread): recorded now, its result dropped
        self._keep_task(self._end_stopped(run))

    async def _end_stopped(self, run: BackgroundRun) -> None:
        if not run.done:
            run.state, run.error = run.stop_as or FAILED, run.stop_error
            await self._fail(run)

    def _keep_task(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._watchdogs.add(task)
        task.add_done_callback(self._watchdogs.discard)

    async def _limit(
        self,
        run: BackgroundRun | None,
        submission: Submission[BacktestResult],
        seconds: float,
        stopped: list[bool] | None = None,
    ) -> None:
        """End ``submission``'s worker when it computes longer than ``seconds``."""
        # queued time does not count; a Submission has no "started" event to wait on
        while not (submission.running() or submission.done()):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await asyncio.sleep(seconds + STOP_GRACE_S)
        if submission.done() or (run is not None and (run.done or run.stop_as)):
            return
        if stopped is not None:
            stopped.append(True)
        if run is None:
            submission.terminate()
            return
        self._stop(run, FAILED, f"StrategyFailed: {_over_limit(run.strategy, seconds)}")

    async def _poll_cancels(self) -> None:
        """Stop the runs of this process that a cancel asked elsewhere names."""
        assert self._audit is not None
        while True:
            await asyncio.sleep(self._poll_s)
            flying = {r.id: r for r in self._runs.values() if not r.done and r.stop_as is None}
            if not flying:
                if all(r.done for r in self._runs.values()):
                    return
                continue
            since = min(r.created_at for r in flying.values())
            query = AuditQuery(
                action=CANCEL_ACTION, outcome=AuditOutcome.SUCCESS, since=since, limit=1000
            )
            try:
                entries = await self._audit.query(query)
            except ArbxError as exc:
                log.warning("cancel requests could not be read: %s", exc.message)
                continue
            for entry in reversed(entries):
                target = entry.event.target or ""
                run = flying.get(target.removeprefix("backtest:"))
                if run is None or run.stop_as is not None:
                    continue
                scope, _, by = (entry.event.detail or "").partition("; by ")
                if scope == "any" or scope == f"owner={run.owner}" or run.owner is None:
                    self._stop(run, CANCELLED, f"cancelled by {by or entry.event.actor}")

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
        """Stop: runs in flight are recorded as interrupted and their calls stopped where the
        executor can (``terminate``: a worker stuck in a plugin call does not hold up the
        shutdown); the executor stops after the calls it could not stop."""
        flying = [r for r in self._runs.values() if r.task is not None and not r.task.done()]
        for run in flying:
            assert run.task is not None
            run.task.cancel()
        for task in [self._poller, *self._watchdogs]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(r.task for r in flying if r.task), return_exceptions=True)
        for run in flying:  # a task cancelled before it started never saw the cancellation
            if not run.done:
                if run.submission is not None:
                    run.submission.terminate()
                run.error = INTERRUPTED
                await self._fail(run)
        await self._executor.shutdown()

    async def _watch(self, run: BackgroundRun, finish: Finish) -> None:
        assert run.submission is not None
        try:
            result = await run.submission.result()
            if run.stop_as is not None:  # stopped, yet the call finished: not stored
                if not run.done:
                    run.state, run.error = run.stop_as, run.stop_error
                    await self._fail(run)
                return
            await finish(result)
            run.state = DONE
            return
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if run.stop_as is not None and not (task is not None and task.cancelling()):
                await self._end_stopped(run)  # dropped before it started
                return
            run.submission.terminate()  # recorded as interrupted: its result is not wanted
            run.error = INTERRUPTED
            await self._fail(run)
            raise
        except CallStopped:  # its worker was ended by ``_stop``
            await self._end_stopped(run)
            return
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
        if run.state != CANCELLED:
            run.state = FAILED
        log.warning("backtest %s %s: %s", run.id, run.state, run.error)
        try:
            await self._store.record_failure(run.failure())
        except ArbxError as exc:
            log.warning("backtest %s failure could not be recorded: %s", run.id, exc.message)

    def _prune(self) -> None:
        finished = [r for r in self._runs.values() if r.done]
        for run in finished[: max(0, len(finished) - self._keep)]:
            del self._runs[run.id]


def _over_limit(strategy: str, seconds: float) -> str:
    return (
        f"strategy {strategy} was stopped: it ran longer than its time limit of {seconds:g} s"
        " ([strategies] time_limit_s) and its worker process was ended"
    )


class CancelBacktest:
    """Cancel a background run: the owner, or a holder of ``results:read_any`` (the local
    CLI too). A run computing in this process stops at once; one that may be computing in
    another process of the profile (a server's run, cancelled from the CLI) is asked to
    stop through the audit log, which that process reads (``BackgroundBacktests``): the
    answer is None then, and the run shows ``cancelled`` once it has stopped. A run that
    has finished, failed or been cancelled already is a ``Conflict``."""

    def __init__(
        self,
        *,
        runs: RunStore,
        audit: AuditTrail,
        background: BackgroundBacktests | None = None,
    ) -> None:
        self._runs = runs
        self._audit = audit
        self._background = background

    async def execute(self, run_id: str, *, actor: Principal) -> BackgroundRun | None:
        require(actor, Permission.BACKTESTS_RUN)
        if not 0 < len(run_id) <= MAX_RUN_ID:  # never an id: nothing to ask anybody
            raise NotFound(f"backtest run {run_id[:40]!r} does not exist")
        target = f"backtest:{run_id}"
        background = self._background
        local = None if background is None else background.get(run_id)
        if background is not None and local is not None:
            require(actor, Permission.RESULTS_READ, Resource(owner_id=local.owner or ""))
            run = background.cancel(run_id, by=actor.username or actor.actor)
            await self._audit.record(
                actor.actor, CANCEL_ACTION, AuditOutcome.SUCCESS, target=target, detail="here"
            )
            await background.settled(run, SETTLE_S)
            return run
        try:
            await self._runs.meta(run_id)
        except NotFound:
            pass
        else:
            raise Conflict(f"backtest run {run_id} has finished; nothing to cancel")
        try:
            failure = await self._runs.failure(run_id)
        except NotFound:
            pass
        else:
            raise Conflict(f"backtest run {run_id} is {failure.status} already; nothing to cancel")
        scope = "any" if actor.has(Permission.RESULTS_READ_ANY) else f"owner={actor.user_id}"
        detail = f"{scope}; by {actor.username or actor.actor}"[:200]
        await self._audit.record(
            actor.actor, CANCEL_ACTION, AuditOutcome.SUCCESS, target=target, detail=detail
        )
        return None
