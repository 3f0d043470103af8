"""Backfills run in the background (the HTTP API) or now (the CLI), through EnsureHistory.

``IngestRuns.start`` checks the request at once (venue, symbol listed at the venue,
timeframe, span within ``max_bars``), then backfills in the background, at most
``concurrency`` at once, the others queued. Each run is recorded through the ``JobStore`` as a
manual run of the series' paused collect job (``ingest.<exchange>.<base>-<quote>.<tf>``;
resuming that job keeps the series current), so its status, bars written and error outlive a
restart. Progress and the detailed report live in this process only. ``close`` (at shutdown)
cancels the runs in flight: EnsureHistory writes whole batches only, so nothing partial is
stored, and the runs are recorded as cancelled. ``IngestRuns.execute`` backfills now with
the same checks (no size limit) and returns the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from arbx.app.ensure_history import (
    EnsureHistory,
    EnsureHistoryReport,
    HistoryProgress,
    ProgressCallback,
)
from arbx.domain.errors import ArbxError, Conflict, InvalidInput, NotFound
from arbx.domain.jobs import JobDefinition, JobOrigin, JobRun, JobSpec, RunStatus, RunTrigger
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.ports.clock import Clock
from arbx.ports.job_store import JobStore

log = logging.getLogger("arbx.ingest")

INGEST_JOB_PREFIX: Final = "ingest-"
QUEUED: Final = "queued"
KEEP_FINISHED: Final = 500  # finished runs kept in memory with their full report
MAX_ERROR_CHARS: Final = 2000


def ingest_job_id(key: SeriesKey) -> str:
    return INGEST_JOB_PREFIX + hashlib.sha1(str(key).encode()).hexdigest()[:24]


def ingest_job_name(key: SeriesKey) -> str:
    name = f"ingest.{key.exchange}.{key.symbol.slug}.{key.timeframe}".lower()
    if len(name) > 64:
        name = name[:55] + "." + hashlib.sha1(name.encode()).hexdigest()[:8]
    return name


@dataclass(eq=False)
class IngestRun:
    """One backfill in this process."""

    run_id: str
    series: SeriesKey
    span: TimeSpan | None  # None for a run read back from the job store
    created_at: datetime
    job_id: str | None = None
    status: str = QUEUED
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: HistoryProgress | None = None
    report: EnsureHistoryReport | None = None
    error: str | None = None
    task: asyncio.Task[None] | None = None
    recorded_bars_written: int | None = None  # a run read back from the job store

    @property
    def done(self) -> bool:
        return self.status not in (QUEUED, RunStatus.RUNNING.value)

    @property
    def bars_written(self) -> int:
        if self.report is not None:
            return self.report.bars_written
        if self.recorded_bars_written is not None:
            return self.recorded_bars_written
        return self.progress.bars_written if self.progress is not None else 0

    def on_progress(self, progress: HistoryProgress) -> None:
        self.progress = progress


class IngestRuns:
    """Backfills started over HTTP: checked, run in the background (at most ``concurrency``
    at once, the others queued), recorded through the job store, cancelled at shutdown."""

    def __init__(
        self,
        *,
        ensure_history: EnsureHistory,
        jobs: JobStore | None,
        clock: Clock,
        max_bars: int,
        concurrency: int,
    ) -> None:
        self._ensure = ensure_history
        self._jobs = jobs
        self._clock = clock
        self._max_bars = max_bars
        self._slots = asyncio.Semaphore(concurrency)
        self._runs: dict[str, IngestRun] = {}

    async def execute(
        self, key: SeriesKey, span: TimeSpan, progress: ProgressCallback | None = None
    ) -> EnsureHistoryReport:
        """Backfill now and return the report (the CLI): the same checks as ``start`` but
        the size limit, which protects a server, not a terminal."""
        await self._ensure.check(key)
        return await self._ensure.execute(key, span, progress)

    async def start(self, key: SeriesKey, span: TimeSpan) -> IngestRun:
        """Check at once (``InvalidInput`` naming the field: venue, timeframe, span, symbol),
        then backfill in the background; ``Conflict`` while the series is being ingested."""
        await self._ensure.check(key)
        self._check_span(key, span)
        for run in self._runs.values():
            if run.series == key and not run.done:
                raise Conflict(
                    f"{key} is being ingested already (run {run.run_id}); wait for it to finish"
                )
        run = IngestRun(uuid.uuid4().hex, key, span, self._clock.now())
        self._runs[run.run_id] = run
        try:
            run.job_id = await self._record_start(run)
        except BaseException:
            del self._runs[run.run_id]
            raise
        run.task = asyncio.create_task(self._run(run), name=f"ingest {key}")
        self._prune()
        return run

    async def get(self, run_id: str) -> IngestRun:
        run = self._runs.get(run_id)
        if run is not None:
            return run
        stored = await self._stored_run(run_id)
        if stored is None:
            raise NotFound(f"ingest run {run_id!r} does not exist (or was not kept)")
        return stored

    async def close(self) -> None:
        """Cancel the runs in flight and wait until each is recorded as cancelled."""
        tasks = [r.task for r in self._runs.values() if r.task is not None and not r.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- checks ---------------------------------------------------------------------------

    def _check_span(self, key: SeriesKey, span: TimeSpan) -> None:
        if span.start >= self._clock.now():
            raise InvalidInput(
                f"start {span.start.isoformat()} is in the future; nothing to fetch", field="start"
            )
        bars = -(-(span.end_ms - span.start_ms) // key.timeframe.ms)
        if bars > self._max_bars:
            raise InvalidInput(
                f"the span holds {bars:,} {key.timeframe} bars; one ingest may span at most"
                f" {self._max_bars:,} (exchanges.ingest_max_bars): split it, or use"
                " 'arbx data fetch'",
                field="end",
            )

    # -- the run --------------------------------------------------------------------------

    async def _run(self, run: IngestRun) -> None:
        try:
            async with self._slots:
                run.status = RunStatus.RUNNING.value
                run.started_at = self._clock.now()
                assert run.span is not None
                run.report = await self._ensure.execute(run.series, run.span, run.on_progress)
            run.status = RunStatus.SUCCEEDED.value
        except asyncio.CancelledError:
            run.status = RunStatus.CANCELLED.value
            run.error = "cancelled: arbx is shutting down (whole batches written are kept)"
            await self._finish(run)
            raise
        except ArbxError as exc:
            run.status, run.error = RunStatus.FAILED.value, f"{type(exc).__name__}: {exc.message}"
        except Exception as exc:  # a bug: keep the server up, say what happened
            log.exception("ingest run %s of %s crashed", run.run_id, run.series)
            run.status, run.error = RunStatus.FAILED.value, f"{type(exc).__name__}: {exc}"
        await self._finish(run)

    async def _finish(self, run: IngestRun) -> None:
        run.finished_at = self._clock.now()
        if run.error:
            log.warning("ingest run %s of %s %s: %s", run.run_id, run.series, run.status, run.error)
        if self._jobs is None or run.job_id is None:
            return
        started = JobRun(
            id=run.run_id,
            job_id=run.job_id,
            attempt=1,
            trigger=RunTrigger.MANUAL,
            started_at=run.created_at,
        )
        error = None if run.error is None else run.error[:MAX_ERROR_CHARS]
        finished = started.finish(
            RunStatus(run.status), at=run.finished_at, bars_written=run.bars_written, error=error
        )
        try:
            await self._jobs.finish_run(finished)
        except ArbxError as exc:
            log.warning("ingest run %s could not be recorded: %s", run.run_id, exc.message)

    # -- the job store ----------------------------------------------------------------------

    async def _record_start(self, run: IngestRun) -> str | None:
        if self._jobs is None:
            return None
        jobs = self._jobs
        job_id = ingest_job_id(run.series)
        try:
            await jobs.get(job_id)
        except NotFound:
            spec = JobSpec(
                name=ingest_job_name(run.series),
                kind="collect",
                series=[str(run.series)],
                interval_s=run.series.timeframe.ms / 1000,
                paused=True,
            )
            job = JobDefinition.from_spec(
                spec, id=job_id, origin=JobOrigin.API, created_at=run.created_at
            )
            # Conflict: saved meanwhile by a concurrent request (or the name is taken: below)
            with contextlib.suppress(Conflict):
                await jobs.save(job)
        started = JobRun(
            id=run.run_id,
            job_id=job_id,
            attempt=1,
            trigger=RunTrigger.MANUAL,
            started_at=run.created_at,
        )
        try:
            await jobs.start_run(started)
        except NotFound:
            log.warning("job name %s is taken by another job; run not recorded", job_id)
            return None
        return job_id

    async def _stored_run(self, run_id: str) -> IngestRun | None:
        if self._jobs is None:
            return None
        jobs = self._jobs
        try:
            stored = await jobs.get_run(run_id)
            job = await jobs.get(stored.job_id)
        except NotFound:
            return None
        if not stored.job_id.startswith(INGEST_JOB_PREFIX) or not job.series:
            return None
        return IngestRun(
            run_id=stored.id,
            series=job.series[0],
            span=None,
            created_at=stored.started_at,
            job_id=stored.job_id,
            status=stored.status.value,
            started_at=stored.started_at,
            finished_at=stored.finished_at,
            error=stored.error,
            recorded_bars_written=stored.bars_written,
        )

    def _prune(self) -> None:
        finished = [r for r in self._runs.values() if r.done]
        for run in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._runs[run.run_id]
