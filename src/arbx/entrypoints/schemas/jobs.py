"""The JSON shapes of jobs and their runs: what ``/api/v1/jobs`` answers and ``arbx jobs
--json`` prints."""

from __future__ import annotations

from datetime import datetime

import msgspec

from arbx.app.manage_jobs import JobView
from arbx.domain.jobs import CronSchedule, JobDefinition, JobRun


class MarketsOut(msgspec.Struct):
    exchanges: list[str]
    symbols: list[str]
    timeframes: list[str]


class ScheduleOut(msgspec.Struct):
    """``interval`` (every ``interval_s`` seconds) or ``cron`` (the UTC ``cron`` fields)."""

    type: str
    description: str
    interval_s: float | None
    cron: dict[str, str] | None


class RunOut(msgspec.Struct):
    id: str
    job_id: str
    attempt: int
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    bars_written: int
    error: str | None

    @classmethod
    def of(cls, run: JobRun) -> RunOut:
        return cls(
            id=run.id,
            job_id=run.job_id,
            attempt=run.attempt,
            trigger=run.trigger.value,
            status=run.status.value,
            started_at=run.started_at,
            finished_at=run.finished_at,
            bars_written=run.bars_written,
            error=run.error,
        )


class JobOut(msgspec.Struct):
    """A job: its definition (``series``/``markets`` as given, ``targets`` expanded), and
    what the scheduler knows: ``running``, ``next_run_at`` (null when paused or when no
    scheduler runs), ``last_run``."""

    id: str
    name: str
    kind: str
    origin: str
    series: list[str]
    markets: MarketsOut | None
    targets: list[str]
    schedule: ScheduleOut
    paused: bool
    max_attempts: int
    backoff_s: float
    lookback_bars: int
    repair_policy: str | None
    reference_exchange: str | None
    created_at: datetime
    updated_at: datetime
    running: bool
    next_run_at: datetime | None
    last_run: RunOut | None
    strategy: str | None = None  # evaluate jobs: the catalog strategy re-run

    @classmethod
    def of(cls, job: JobDefinition, view: JobView | None = None) -> JobOut:
        spec = job.to_spec()
        markets = None
        if spec.markets is not None:
            markets = MarketsOut(
                exchanges=spec.markets.exchanges,
                symbols=spec.markets.symbols,
                timeframes=spec.markets.timeframes,
            )
        schedule = job.schedule
        return cls(
            id=job.id,
            name=job.name,
            kind=job.kind.value,
            origin=job.origin.value,
            series=spec.series,
            markets=markets,
            targets=[str(key) for key in job.targets],
            schedule=ScheduleOut(
                type="cron" if isinstance(schedule, CronSchedule) else "interval",
                description=schedule.describe(),
                interval_s=spec.interval_s,
                cron=schedule.fields() if isinstance(schedule, CronSchedule) else None,
            ),
            paused=job.paused,
            max_attempts=job.retry.max_attempts,
            backoff_s=job.retry.backoff_s,
            lookback_bars=job.lookback_bars,
            repair_policy=spec.repair_policy,
            reference_exchange=spec.reference_exchange,
            strategy=spec.strategy,
            created_at=job.created_at,
            updated_at=job.updated_at,
            running=view is not None and view.running,
            next_run_at=None if view is None else view.next_run_at,
            last_run=None if view is None or view.last_run is None else RunOut.of(view.last_run),
        )

    @classmethod
    def of_view(cls, view: JobView) -> JobOut:
        return cls.of(view.job, view)


class JobsOut(msgspec.Struct):
    count: int
    jobs: list[JobOut]


class RunsOut(msgspec.Struct):
    job_id: str
    count: int
    runs: list[RunOut]
