"""Run one job: record the run, do the work of its kind on every target series, record the
outcome, and retry failed attempts by the job's policy.

Each attempt is one ``JobRun`` (attempt 1, 2, ...). Per series the work gets the window of
``arbx.domain.jobs.run_window``: for collection the closed bars since the newest stored bar
(bounded by ``lookback_bars``), for validate/repair the last ``lookback_bars`` closed bars.
A failing series does not stop the others. An attempt that failed only for transient reasons
(an exchange or the store unavailable, rate limits, unexpected errors) is retried after the
policy's backoff; a permanent one (bad input, unknown symbol, missing data) is not.
Cancellation (shutdown) finishes the run as cancelled and propagates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from arbx.app.authenticate import new_id
from arbx.app.ensure_history import EnsureHistory
from arbx.app.repair_series import RepairSeries
from arbx.app.validate_series import ValidateSeries
from arbx.domain.errors import ArbxError, Conflict, Forbidden, InvalidInput, NotFound, RateLimited
from arbx.domain.jobs import JobDefinition, JobKind, JobRun, RunStatus, RunTrigger, run_window
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.quality import RepairPolicy
from arbx.ports.bar_store import BarStore
from arbx.ports.clock import Clock
from arbx.ports.job_store import JobStore

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000
_PERMANENT = (InvalidInput, NotFound, Conflict, Forbidden)


class SeriesWork(Protocol):
    """The work a job kind does on one series over one window; returns bars written."""

    async def __call__(self, job: JobDefinition, key: SeriesKey, span: TimeSpan) -> int: ...


class JobWork(Protocol):
    """The work of a job kind that has no target series (``evaluate``): the whole job at
    once; returns bars written."""

    async def __call__(self, job: JobDefinition) -> int: ...


class CollectWork(SeriesWork):
    """Collection: backfill the window with ``EnsureHistory`` (only what is missing)."""

    def __init__(self, ensure: EnsureHistory) -> None:
        self._ensure = ensure

    async def __call__(self, job: JobDefinition, key: SeriesKey, span: TimeSpan) -> int:
        report = await self._ensure.execute(key, span)
        if report.bars_rejected:
            log.warning(
                "job %s: %s: %d fetched bar(s) failed validation and were not stored",
                job.name,
                key,
                report.bars_rejected,
            )
        return report.bars_written


class ValidateWork(SeriesWork):
    """Validation: run the data-quality rules on the window and store the findings."""

    def __init__(self, validate: ValidateSeries, *, cross_venue: bool = True) -> None:
        self._validate = validate
        self._cross_venue = cross_venue

    async def __call__(self, job: JobDefinition, key: SeriesKey, span: TimeSpan) -> int:
        report = await self._validate.execute(key, span, cross_venue=self._cross_venue)
        if report.by_severity.get("error"):
            log.warning(
                "job %s: %s has %d error finding(s) in %s",
                job.name,
                key,
                report.by_severity["error"],
                span,
            )
        return 0


class RepairWork(SeriesWork):
    """Repair: fill the window's gaps by the job's policy (a bar that exists always wins)."""

    def __init__(self, repair: RepairSeries) -> None:
        self._repair = repair

    async def __call__(self, job: JobDefinition, key: SeriesKey, span: TimeSpan) -> int:
        policy = job.repair_policy or RepairPolicy.FORWARD_FILL
        report = await self._repair.execute(key, policy, span, reference=job.reference_for(key))
        if report.unfilled_bars:
            log.info("job %s: %s: %d bar(s) left unfilled", job.name, key, report.unfilled_bars)
        return report.written


@dataclass(slots=True)
class _Outcome:
    bars_written: int = 0
    errors: list[str] = field(default_factory=list)
    retryable: bool = False
    retry_after: float = 0.0


class RunJob:
    """Execute a job now: ``await run_job.execute(job_id, trigger)`` returns the last run.

    ``work`` maps each job kind to its per-series work, ``whole_work`` the kinds that work
    on the whole job (``evaluate``); a kind without work fails its run with a message saying
    so (not retried).
    """

    def __init__(
        self,
        *,
        jobs: JobStore,
        bars: BarStore,
        clock: Clock,
        work: dict[JobKind, SeriesWork],
        whole_work: dict[JobKind, JobWork] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        new_id: Callable[[], str] = new_id,
    ) -> None:
        self._jobs = jobs
        self._bars = bars
        self._clock = clock
        self._work = dict(work)
        self._whole = dict(whole_work or {})
        self._sleep = sleep
        self._new_id = new_id

    @property
    def supported_kinds(self) -> frozenset[JobKind]:
        return frozenset(self._work) | frozenset(self._whole)

    async def execute(self, job_id: str, trigger: RunTrigger = RunTrigger.SCHEDULE) -> JobRun:
        job = await self._jobs.get(job_id)
        attempt = 1
        while True:
            run, outcome = await self._attempt(job, attempt, trigger)
            if run.status is RunStatus.SUCCEEDED:
                return run
            if not (outcome.retryable and job.retry.allows_another(attempt)):
                log.error(
                    "job %s (%s) failed after %d attempt(s): %s",
                    job.name,
                    job.id,
                    attempt,
                    run.error,
                )
                return run
            delay = max(job.retry.delay_after(attempt), outcome.retry_after)
            log.warning(
                "job %s (%s) attempt %d failed, retrying in %.1f s: %s",
                job.name,
                job.id,
                attempt,
                delay,
                run.error,
            )
            await self._sleep(delay)
            try:
                job = await self._jobs.get(job_id)
            except NotFound:
                log.info("job %s was deleted during the backoff; not retrying", job_id)
                return run
            if job.paused and trigger is RunTrigger.SCHEDULE:
                log.info("job %s was paused during the backoff; not retrying", job.name)
                return run
            attempt += 1

    async def _attempt(
        self, job: JobDefinition, attempt: int, trigger: RunTrigger
    ) -> tuple[JobRun, _Outcome]:
        run = JobRun(
            id=self._new_id(),
            job_id=job.id,
            attempt=attempt,
            trigger=trigger,
            started_at=self._clock.now(),
        )
        await self._jobs.start_run(run)
        outcome = _Outcome()
        try:
            await self._run_targets(job, outcome)
        except asyncio.CancelledError:
            await self._finish(
                run,
                RunStatus.CANCELLED,
                outcome,
                error="cancelled: arbx is shutting down or the run was stopped",
            )
            raise
        except Exception as exc:  # a failure outside any one series (the store, a bug)
            log.exception("job %s (%s) attempt %d crashed", job.name, job.id, attempt)
            outcome.errors.append(_describe(exc))
            outcome.retryable = outcome.retryable or not isinstance(exc, _PERMANENT)
        if outcome.errors:
            error = "; ".join(outcome.errors)
            return await self._finish(run, RunStatus.FAILED, outcome, error=error), outcome
        return await self._finish(run, RunStatus.SUCCEEDED, outcome, error=None), outcome

    async def _run_targets(self, job: JobDefinition, outcome: _Outcome) -> None:
        whole = self._whole.get(job.kind)
        if whole is not None:
            try:
                outcome.bars_written += await whole(job)
            except Exception as exc:
                if not isinstance(exc, ArbxError):
                    log.exception("job %s failed unexpectedly", job.name)
                outcome.errors.append(_describe(exc))
                outcome.retryable = outcome.retryable or not isinstance(exc, _PERMANENT)
            return
        work = self._work.get(job.kind)
        if work is None:
            supported = ", ".join(sorted(k.value for k in self.supported_kinds)) or "none"
            outcome.errors.append(
                f"{job.kind.value} jobs cannot run in this arbx (supported kinds: {supported})"
            )
            return
        for key in job.targets:
            try:
                span = await self._window(job, key)
                if span is None:
                    continue
                outcome.bars_written += await work(job, key, span)
            except Exception as exc:
                if not isinstance(exc, ArbxError):
                    log.exception("job %s: %s failed unexpectedly", job.name, key)
                outcome.errors.append(f"{key}: {_describe(exc)}")
                outcome.retryable = outcome.retryable or not isinstance(exc, _PERMANENT)
                if isinstance(exc, RateLimited) and exc.retry_after:
                    outcome.retry_after = max(outcome.retry_after, exc.retry_after)

    async def _window(self, job: JobDefinition, key: SeriesKey) -> TimeSpan | None:
        now = self._clock.now()
        stored_until = None
        if job.kind is JobKind.COLLECT:
            reach = run_window(JobKind.VALIDATE, now, key.timeframe, job.lookback_bars)
            assert reach is not None
            covered = await self._bars.coverage(key, reach)
            stored_until = max((span.end for span in covered), default=None)
        return run_window(job.kind, now, key.timeframe, job.lookback_bars, stored_until)

    async def _finish(
        self, run: JobRun, status: RunStatus, outcome: _Outcome, *, error: str | None
    ) -> JobRun:
        finished = run.finish(
            status,
            at=self._clock.now(),
            bars_written=outcome.bars_written,
            error=None if error is None else error[:MAX_ERROR_CHARS],
        )
        try:
            return await self._jobs.finish_run(finished)
        except (NotFound, Conflict) as exc:  # deleted meanwhile, or marked interrupted
            log.warning("run %s of job %s could not be recorded: %s", run.id, run.job_id, exc)
            return finished


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ArbxError):
        return f"{type(exc).__name__}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"
