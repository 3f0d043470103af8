"""A job's streak of failures, read from its stored runs (so it outlives the process)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from arbx.domain.jobs.model import JobRun, RunStatus


@dataclass(frozen=True, slots=True)
class FailureStreak:
    failures: int  # failed runs in a row, newest back to the last success (0: none)
    last_error: str | None  # the newest failed run's error
    complete: bool  # False: every run given failed, so older runs may continue the streak


def failure_streak(newest_first: Sequence[JobRun]) -> FailureStreak:
    """Count failed runs from the newest back to the last success. Runs still running and
    cancelled ones (interrupted, stopped by hand) neither break nor extend the streak."""
    failures, last_error = 0, None
    for run in newest_first:
        if run.status in (RunStatus.RUNNING, RunStatus.CANCELLED):
            continue
        if run.status is not RunStatus.FAILED:
            return FailureStreak(failures, last_error, True)
        if failures == 0:
            last_error = run.error
        failures += 1
    return FailureStreak(failures, last_error, False)
