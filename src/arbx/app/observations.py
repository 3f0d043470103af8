"""What this process saw happen, for metrics, component health and alert rules.

Hooks on the stores and use cases (``hooks``) feed it: rows written per venue, job runs
(counts and durations; failure streaks are read from the job store, so they outlive the
process), backtest durations and failures, series quality
scores, outage gaps. Other parts of arbx (streams, the strategy catalog) report through
``signal(kind, subject, value, detail)``; the alert rules of those kinds read them.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from arbx.app.instrumented import Annotation, ResultHook
from arbx.domain.jobs import JobRun
from arbx.domain.market import SeriesKey
from arbx.domain.quality.model import DataGap, GapCause
from arbx.ports.clock import Clock
from arbx.ports.telemetry import AttributeValue, Observation, Telemetry

KEEP_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class Event:
    """A thing that happened once: a backtest failed, an outage gap appeared, a signal."""

    seq: int
    kind: str  # backtest_failed, outage_gap, or a signal's kind
    subject: str
    at: datetime
    value: float
    detail: str


@dataclass(frozen=True, slots=True)
class Signal:
    """The latest value another part of arbx reported for (kind, subject)."""

    kind: str
    subject: str
    value: float
    detail: str
    at: datetime
    since: datetime  # when the value last changed (a disconnection's start)


class Observations:
    def __init__(self, telemetry: Telemetry, clock: Clock) -> None:
        self._clock = clock
        self.started_at = clock.now()
        self.quality: dict[SeriesKey, float] = {}
        self.signals: dict[tuple[str, str], Signal] = {}
        self._events: deque[Event] = deque(maxlen=KEEP_EVENTS)
        self._seq = itertools.count(1)
        self._gaps_seen: set[tuple[SeriesKey, datetime]] = set()
        self._background: list[Any] = []  # background backtest runs (with a ``done``)
        self._rows = telemetry.counter(
            "arbx.bars.written", description="bars inserted or changed, by venue and timeframe"
        )
        self._job_runs = telemetry.counter("arbx.job.runs", description="finished job runs")
        self._job_duration = telemetry.histogram(
            "arbx.job.duration", unit="s", description="job run durations"
        )
        self._backtest_duration = telemetry.histogram(
            "arbx.backtest.duration", unit="s", description="backtest runs, start to stored"
        )
        self._backtest_failures = telemetry.counter(
            "arbx.backtest.failures", description="backtest runs that failed"
        )
        self._gaps = telemetry.counter("arbx.quality.outage_gaps", description="new outage gaps")
        self._study_duration = telemetry.histogram(
            "arbx.study.duration",
            unit="s",
            description="optimization studies, created to finished (done, failed or interrupted)",
        )
        self._study_trials = telemetry.counter(
            "arbx.study.trials", description="optimization trials stored, by strategy and status"
        )
        telemetry.gauge(
            "arbx.quality.score",
            self._scores,
            description="latest quality score (0-1) of each series validated by this process",
        )

    # -- what other parts report -------------------------------------------------------------

    def signal(self, kind: str, subject: str, value: float, detail: str = "") -> None:
        """A value for alert rules of ``kind`` (e.g. stream_disconnected, spread_above,
        strategy_rolled_back); each call is also an event."""
        now = self._clock.now()
        previous = self.signals.get((kind, subject))
        since = previous.since if previous is not None and previous.value == value else now
        self.signals[(kind, subject)] = Signal(kind, subject, value, detail, now, since)
        self._event(kind, subject, value, detail)

    def events_after(self, seq: int) -> list[Event]:
        return [event for event in self._events if event.seq > seq]

    @property
    def last_seq(self) -> int:
        return self._events[-1].seq if self._events else 0

    def _event(self, kind: str, subject: str, value: float, detail: str) -> None:
        self._events.append(Event(next(self._seq), kind, subject, self._clock.now(), value, detail))

    def _scores(self) -> Iterable[Observation]:
        return [
            (
                score,
                {
                    "exchange": str(k.exchange),
                    "symbol": str(k.symbol),
                    "timeframe": str(k.timeframe),
                },
            )
            for k, score in list(self.quality.items())
        ]

    # -- hooks (see ``hooks``) ---------------------------------------------------------------

    def bars_written(self, args: tuple[Any, ...], _: dict[str, Any], rows: Any) -> None:
        key: SeriesKey = args[0]
        if isinstance(rows, int) and rows:
            self._rows.add(rows, {"venue": str(key.exchange), "timeframe": str(key.timeframe)})

    def job_finished(self, _: tuple[Any, ...], __: dict[str, Any], run: Any) -> None:
        if not isinstance(run, JobRun) or run.finished_at is None:
            return
        status = run.status.value
        labels = {"job": run.job_id, "status": status}
        self._job_runs.add(1, labels)
        self._job_duration.record((run.finished_at - run.started_at).total_seconds(), labels)

    def backtest_saved(self, args: tuple[Any, ...], _: dict[str, Any], __: Any) -> None:
        meta = getattr(args[0], "meta", None)
        created = getattr(meta, "created_at", None)
        if isinstance(created, datetime):
            seconds = max(0.0, (self._clock.now() - created).total_seconds())
            self._backtest_duration.record(
                seconds, {"strategy": str(getattr(meta, "strategy", "?"))}
            )

    def annotations(self) -> Mapping[str, Mapping[str, Annotation]]:
        """Span attributes of traced components' results (see ``instrumented.traced``)."""
        return {"optimize": {"run": study_attributes, "resume": study_attributes}}

    def study_updated(self, args: tuple[Any, ...], _: dict[str, Any], __: Any) -> None:
        """A study's status stored: a finished one's duration; a failed one is an event for
        the backtest_failed rules of its strategy."""
        study = args[0]
        status = str(getattr(study, "status", ""))
        if status not in ("done", "failed", "interrupted"):
            return
        strategy = str(getattr(study, "strategy", "?"))
        created, updated = getattr(study, "created_at", None), getattr(study, "updated_at", None)
        if isinstance(created, datetime) and isinstance(updated, datetime):
            seconds = max(0.0, (updated - created).total_seconds())
            self._study_duration.record(seconds, {"strategy": strategy, "status": status})
        if status == "failed":
            detail = f"study {getattr(study, 'id', '?')}: {getattr(study, 'error', '') or ''}"
            self._event("backtest_failed", strategy, 1.0, detail[:500])

    def trial_stored(self, args: tuple[Any, ...], _: dict[str, Any], __: Any) -> None:
        trial = args[0]
        status = str(getattr(trial, "status", "?"))
        self._study_trials.add(1, {"status": status})

    def backtest_started(self, _: tuple[Any, ...], __: dict[str, Any], run: Any) -> None:
        if hasattr(run, "done") and not run.done:  # accepted for the worker pool
            self._background = [r for r in self._background if not r.done] + [run]

    @property
    def backtests_in_flight(self) -> int:
        return sum(1 for run in self._background if not run.done)

    def backtest_failed(self, args: tuple[Any, ...], _: dict[str, Any], __: Any) -> None:
        failure = args[0]
        if getattr(failure, "status", "failed") == "cancelled":  # a user's choice, not a failure
            return
        strategy = str(getattr(failure, "strategy", "?"))
        self._backtest_failures.add(1, {"strategy": strategy})
        detail = f"run {getattr(failure, 'id', '?')}: {getattr(failure, 'error', '')}"
        self._event("backtest_failed", strategy, 1.0, detail[:500])

    def gaps_replaced(self, args: tuple[Any, ...], kwargs: dict[str, Any], _: Any) -> None:
        key: SeriesKey = args[0]
        gaps: Iterable[DataGap] = args[2] if len(args) > 2 else kwargs.get("gaps", ())
        for gap in gaps:
            if gap.cause is not GapCause.OUTAGE or (key, gap.start) in self._gaps_seen:
                continue
            self._gaps_seen.add((key, gap.start))
            if gap.end < self.started_at:  # found again after a restart: not new
                continue
            self._gaps.add(1, {"venue": str(key.exchange)})
            detail = f"{gap.bars_missing} bar(s) missing from {gap.start:%Y-%m-%d %H:%M}Z"
            self._event("outage_gap", str(key), float(gap.bars_missing), detail)

    def scored(self, _: tuple[Any, ...], __: dict[str, Any], report: Any) -> None:
        key, score = getattr(report, "key", None), getattr(report, "score", None)
        if isinstance(key, SeriesKey) and score is not None:
            self.quality[key] = float(score.score)

    def hooks(self) -> Mapping[str, Mapping[str, ResultHook]]:
        """The result hooks of each traced component (see ``instrumented.traced``)."""
        return {
            "store.bars": {"write": self.bars_written},
            "store.jobs": {"finish_run": self.job_finished},
            "store.runs": {"save": self.backtest_saved, "record_failure": self.backtest_failed},
            "store.quality": {"replace_gaps": self.gaps_replaced},
            "quality": {"execute": self.scored},
            "backtest": {"start": self.backtest_started, "start_rerun": self.backtest_started},
            "store.studies": {"update": self.study_updated, "add_trial": self.trial_stored},
        }


def study_attributes(
    _: tuple[Any, ...], __: dict[str, Any], view: Any
) -> dict[str, AttributeValue]:
    """A finished ``optimize.run``'s span: which study, how many trials, how it ended."""
    study = getattr(view, "study", None)
    if study is None:
        return {}
    return {
        "arbx.study.id": str(study.id),
        "arbx.study.strategy": str(study.strategy),
        "arbx.study.method": str(study.method),
        "arbx.study.status": str(study.status),
        "arbx.study.trials": int(study.n_trials),
        "arbx.study.trials_done": int(getattr(view, "trials_done", 0)),
        "arbx.study.trials_failed": int(getattr(view, "trials_failed", 0)),
    }
