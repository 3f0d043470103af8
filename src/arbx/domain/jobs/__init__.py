"""Scheduled jobs: definitions, runs, schedules and the window a run works on."""

from arbx.domain.jobs.model import (
    JobDefinition,
    JobKind,
    JobOrigin,
    JobPatch,
    JobRun,
    JobSpec,
    MarketSpec,
    MarketSpecInput,
    RetryPolicy,
    RunStatus,
    RunTrigger,
    check_name,
    parse_schedule,
)
from arbx.domain.jobs.schedule import (
    CRON_FIELDS,
    CronSchedule,
    IntervalSchedule,
    Schedule,
    check_cron_field,
)
from arbx.domain.jobs.window import closed_until, collection_window, lookback_window, run_window

__all__ = [
    "CRON_FIELDS",
    "CronSchedule",
    "IntervalSchedule",
    "JobDefinition",
    "JobKind",
    "JobOrigin",
    "JobPatch",
    "JobRun",
    "JobSpec",
    "MarketSpec",
    "MarketSpecInput",
    "RetryPolicy",
    "RunStatus",
    "RunTrigger",
    "Schedule",
    "check_cron_field",
    "check_name",
    "closed_until",
    "collection_window",
    "lookback_window",
    "parse_schedule",
    "run_window",
]
