"""Domain schedules as APScheduler 3 triggers (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from arbx.domain.errors import InvalidInput
from arbx.domain.jobs import CronSchedule, IntervalSchedule, Schedule


def trigger_for(schedule: Schedule, *, start: datetime | None = None) -> BaseTrigger:
    """The trigger for ``schedule``; an interval's first fire is one interval after ``start``
    (default: now)."""
    if isinstance(schedule, IntervalSchedule):
        first = (start or datetime.now(UTC)) + timedelta(seconds=schedule.seconds)
        return IntervalTrigger(seconds=schedule.seconds, start_date=first, timezone=UTC)
    if isinstance(schedule, CronSchedule):
        try:
            return CronTrigger(timezone=UTC, **schedule.fields())
        except ValueError as exc:  # the domain's subset should never get here
            raise InvalidInput(
                f"cron schedule refused by the scheduler: {exc}", field="cron"
            ) from exc
    raise TypeError(f"unknown schedule {schedule!r}")
