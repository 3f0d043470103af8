"""Alert rules at work: evaluate them, store every transition, notify the channels.

``EvaluateAlerts`` turns what the process observed (``Observations``), the stored series, the
stored job runs (failure streaks survive a restart) and the venues' breakers into each rule's violating subjects, steps the ``AlertBook`` (dedup,
cooldown), stores the transitions and hands them to ``Notifications``, which delivers in the
background with retries and backoff: a slow or failing channel never blocks the evaluation,
the request or the job that raised the alert, and its failures are visible in
``statuses()`` (GET /api/v1/alerts/channels, the admin health).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

import msgspec

from arbx.app.observations import Event, Observations
from arbx.domain.alerts import (
    AlertBook,
    AlertRule,
    AlertRuleSpec,
    AlertTransition,
    Condition,
    RuleKind,
    RuleOrigin,
    Severity,
    TransitionState,
)
from arbx.domain.auth import AuditOutcome, AuditQuery
from arbx.domain.errors import ArbxError, InvalidInput
from arbx.domain.jobs.streaks import FailureStreak, failure_streak
from arbx.domain.market import Exchange
from arbx.ports.alert_channel import AlertChannel
from arbx.ports.alert_store import AlertStore
from arbx.ports.audit_log import AuditLog
from arbx.ports.bar_store import BarStore
from arbx.ports.clock import Clock
from arbx.ports.exchange import BreakerState, ExchangeClient
from arbx.ports.job_store import JobStore
from arbx.ports.telemetry import Telemetry

log = logging.getLogger(__name__)
MAX_HISTORY = 1000
ROLLBACK_ACTIONS = frozenset({"strategies.rollback", "strategies.auto_rollback"})
MAX_STREAK_RUNS = 4096  # a failure streak is counted at most this far back


class ChannelStatus(msgspec.Struct, frozen=True):
    name: str
    kind: str
    ok: bool  # False after a delivery gave up, until the next one succeeds
    delivered: int
    failed: int
    pending: int
    last_error: str | None
    last_error_at: datetime | None
    last_delivered_at: datetime | None


class _Tally:
    def __init__(self) -> None:
        self.delivered = self.failed = self.pending = 0
        self.ok = True
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.last_delivered_at: datetime | None = None


class Notifications:
    """Delivers transitions to channels in background tasks: ``attempts`` tries each,
    waiting ``base_delay_s * 2**n`` (jittered, at most ``max_delay_s``) between them."""

    def __init__(
        self,
        channels: Sequence[AlertChannel],
        *,
        clock: Clock,
        telemetry: Telemetry,
        attempts: int,
        base_delay_s: float,
        max_delay_s: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._channels = {channel.name: channel for channel in channels}
        self._clock = clock
        self._attempts = max(1, attempts)
        self._base, self._max = base_delay_s, max_delay_s
        self._sleep = sleep
        self._tally = {name: _Tally() for name in self._channels}
        self._tasks: set[asyncio.Task[None]] = set()
        self._rng = random.Random()
        self._deliveries = telemetry.counter(
            "arbx.alerts.deliveries", description="alert notifications by channel and outcome"
        )

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._channels)

    def submit(self, transition: AlertTransition, channels: Sequence[str] = ()) -> None:
        """Queue delivery to ``channels`` (empty: all); returns at once, never raises."""
        for name in channels or sorted(self._channels):
            channel = self._channels.get(name)
            if channel is None:
                log.warning("alert %s: channel %r is not configured", transition.rule_name, name)
                continue
            self._tally[name].pending += 1
            task = asyncio.create_task(self._deliver(channel, transition, test=False))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def test(self, channels: Sequence[str] = ()) -> list[ChannelStatus]:
        """Send a test notification to ``channels`` (empty: all) now, with the retries;
        the statuses afterwards. Unknown names are refused."""
        unknown = sorted(set(channels) - set(self._channels))
        if unknown:
            raise InvalidInput(
                f"unknown channel(s) {', '.join(unknown)}; configured: "
                + (", ".join(sorted(self._channels)) or "none"),
                field="channels",
            )
        names = list(channels) or sorted(self._channels)
        probe = test_transition(self._clock.now())
        for name in names:
            self._tally[name].pending += 1
        await asyncio.gather(*(self._deliver(self._channels[n], probe, test=True) for n in names))
        return [s for s in self.statuses() if s.name in names]

    async def drain(self) -> None:
        """Wait for the deliveries under way (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def statuses(self) -> list[ChannelStatus]:
        return [
            ChannelStatus(
                name=name,
                kind=self._channels[name].kind,
                ok=t.ok,
                delivered=t.delivered,
                failed=t.failed,
                pending=t.pending,
                last_error=t.last_error,
                last_error_at=t.last_error_at,
                last_delivered_at=t.last_delivered_at,
            )
            for name, t in sorted(self._tally.items())
        ]

    async def _deliver(
        self, channel: AlertChannel, transition: AlertTransition, *, test: bool
    ) -> None:
        tally = self._tally[channel.name]
        try:
            for attempt in range(self._attempts):
                try:
                    await channel.deliver(transition, test=test)
                except ArbxError as exc:
                    error = exc.message
                except Exception as exc:  # a channel's bug must not kill the others
                    error = f"{type(exc).__name__}: {exc}"
                else:
                    tally.delivered += 1
                    tally.ok = True
                    tally.last_delivered_at = self._clock.now()
                    self._deliveries.add(1, {"channel": channel.name, "outcome": "delivered"})
                    return
                tally.last_error, tally.last_error_at = error, self._clock.now()
                if attempt + 1 < self._attempts:
                    cap = min(self._max, self._base * 2**attempt)
                    await self._sleep(self._rng.uniform(cap / 2, cap))
            tally.failed += 1
            tally.ok = False
            self._deliveries.add(1, {"channel": channel.name, "outcome": "failed"})
            log.warning(
                "alert %s on %s: channel %s gave up after %d attempt(s): %s",
                transition.rule_name,
                transition.subject,
                channel.name,
                self._attempts,
                tally.last_error,
            )
        finally:
            tally.pending -= 1


def test_transition(now: datetime) -> AlertTransition:
    return AlertTransition(
        id=f"test-{uuid.uuid4().hex[:12]}",
        rule_id="test",
        rule_name="test",
        kind=RuleKind.BACKTEST_FAILED,
        severity=Severity.INFO,
        subject="arbx",
        state=TransitionState.FIRING,
        at=now,
        value=None,
        summary="a test notification sent by 'arbx alerts test' or POST /api/v1/alerts/test",
    )


async def stored_streak(jobs: JobStore, job_id: str, at_least: float = 0) -> FailureStreak:
    """A job's failure streak from its stored runs, so it outlives the process: read further
    back while every run read failed, up to ``MAX_STREAK_RUNS``."""
    page = max(16, math.ceil(at_least) + 8)
    while True:
        runs = await jobs.list_runs(job_id, limit=page)
        streak = failure_streak(runs)
        if streak.complete or len(runs) < page or page >= MAX_STREAK_RUNS:
            return streak
        page = min(page * 4, MAX_STREAK_RUNS)


class EvaluateAlerts:
    """One pass over every enabled rule. One instance per process (it holds the states)."""

    def __init__(
        self,
        *,
        store: AlertStore,
        observations: Observations,
        bars: BarStore,
        jobs: JobStore,
        exchanges: Mapping[Exchange, ExchangeClient],
        notifications: Notifications,
        clock: Clock,
        audit: AuditLog | None = None,
        streams: Callable[[], list[tuple[str, bool]]] | None = None,
    ) -> None:
        """``audit``: where strategy rollbacks are read (``strategy_rolled_back``), made by
        any process of the profile: the API, a scheduled ``evaluate`` job, the CLI.
        ``streams``: the live streams' (``stream/channel``, connected) of this process, fed
        to the ``stream_disconnected`` rules on every pass."""
        self._store = store
        self._streams = streams
        self._jobs = jobs
        self._observations = observations
        self._bars = bars
        self._exchanges = exchanges
        self._notifications = notifications
        self._clock = clock
        self._book = AlertBook(lambda: uuid.uuid4().hex)
        self._restored = False
        self._seq = observations.last_seq
        self._lock = asyncio.Lock()
        self._audit = audit
        self._audit_since = clock.now()  # rollbacks before this evaluator are not new
        self._audit_seq: int | None = None

    async def execute(self) -> list[AlertTransition]:
        async with self._lock:
            if not self._restored:
                self._book.restore(await self._store.firing())
                self._restored = True
            now = self._clock.now()
            self._report_streams()
            events = self._observations.events_after(self._seq)
            self._seq = events[-1].seq if events else self._seq
            events = [*events, *await self._rollbacks()]
            rules = await self._store.list_rules()
            live = {rule.id for rule in rules if rule.enabled}
            out: list[AlertTransition] = []
            for rule in rules:
                if not rule.enabled:
                    continue
                violating = await self._violating(rule, now, events)
                for transition in self._book.step(rule, violating, now):
                    await self._store.record(transition)
                    self._notifications.submit(transition, rule.channels)
                    out.append(transition)
            for firing in await self._store.firing():
                if firing.rule_id in live:
                    continue
                # the rule was deleted or disabled: its alerts end (stored, not notified)
                self._book.forget(firing.rule_id)
                ended = msgspec.structs.replace(
                    firing,
                    id=uuid.uuid4().hex,
                    state=TransitionState.RESOLVED,
                    at=now,
                    value=None,
                    summary="resolved: the rule was deleted or disabled",
                )
                await self._store.record(ended)
                out.append(ended)
            return out

    def _report_streams(self) -> None:
        """Each stream channel's connection as a ``stream_disconnected`` signal (1: down); a
        signal keeps its ``since`` while its value stays, so only changes are reported."""
        if self._streams is None:
            return
        signals = self._observations.signals
        for subject, connected in self._streams():
            value = 0.0 if connected else 1.0
            previous = signals.get((RuleKind.STREAM_DISCONNECTED.value, subject))
            if previous is None or previous.value != value:
                detail = "connected" if connected else "not connected"
                self._observations.signal(
                    RuleKind.STREAM_DISCONNECTED.value, subject, value, detail
                )

    async def _rollbacks(self) -> list[Event]:
        """Catalog rollbacks recorded in the audit log since the last pass, as events of
        kind ``strategy_rolled_back`` (subject: the strategy's name): a manual rollback
        (``strategies.rollback``) and an automatic one (``strategies.auto_rollback``)."""
        if self._audit is None:
            return []
        query = AuditQuery(
            action="strategies", outcome=AuditOutcome.SUCCESS, since=self._audit_since, limit=1000
        )
        try:
            entries = await self._audit.query(query)
        except ArbxError as exc:  # the log is down: read them on a later pass
            log.warning("strategy rollbacks could not be read: %s", exc.message)
            return []
        fresh = [e for e in entries if self._audit_seq is None or e.seq > self._audit_seq]
        if entries:
            self._audit_seq = max(entries[0].seq, self._audit_seq or 0)
        found = []
        for entry in sorted(fresh, key=lambda e: e.seq):
            event = entry.event
            if event.action not in ROLLBACK_ACTIONS:
                continue
            name = (event.target or "").removeprefix("strategy:")
            how = (
                "rolled back"
                if event.action == "strategies.rollback"
                else "rolled back automatically"
            )
            found.append(
                Event(
                    entry.seq,
                    RuleKind.STRATEGY_ROLLED_BACK.value,
                    name,
                    event.at,
                    1.0,
                    f"{name} {how} by {event.actor}: {event.detail or ''}"[:500],
                )
            )
        return found

    async def _violating(
        self, rule: AlertRule, now: datetime, events: Sequence[Event]
    ) -> dict[str, Condition]:
        obs, limit = self._observations, rule.threshold
        kind = rule.kind
        if kind is RuleKind.COLLECTOR_STALE:
            assert limit is not None
            found = {}
            for info in await self._bars.list_series():
                newest = info.last_ts + timedelta(milliseconds=info.key.timeframe.ms)
                age = (now - newest).total_seconds() / 60
                if age > limit:
                    found[str(info.key)] = Condition(
                        round(age, 2), f"no new bar for {age:.0f} min (limit {limit:g} min)"
                    )
            return found
        if kind is RuleKind.QUALITY_BELOW:
            assert limit is not None
            return {
                str(key): Condition(score, f"quality score {score:.3f} below {limit:g}")
                for key, score in obs.quality.items()
                if score < limit
            }
        if kind is RuleKind.JOB_FAILING:
            assert limit is not None
            found = {}
            for job in await self._jobs.list():
                streak = await stored_streak(self._jobs, job.id, limit)
                if streak.failures >= limit:
                    found[job.id] = Condition(
                        float(streak.failures),
                        f"failed {streak.failures} time(s) in a row: {streak.last_error or '?'}"[
                            :500
                        ],
                    )
            return found
        if kind is RuleKind.BREAKER_OPEN:
            found = {}
            for venue, client in self._exchanges.items():
                status = client.status()
                if status.breaker is BreakerState.OPEN:
                    found[str(venue)] = Condition(
                        float(status.consecutive_failures),
                        f"circuit open after {status.consecutive_failures} failure(s): "
                        f"{status.last_error or '?'}"[:500],
                    )
            return found
        if kind is RuleKind.STREAM_DISCONNECTED:
            assert limit is not None
            found = {}
            for (signal_kind, subject), signal in obs.signals.items():
                down_s = (now - signal.since).total_seconds()
                if signal_kind == kind.value and signal.value > 0 and down_s >= limit:
                    found[subject] = Condition(down_s, f"disconnected for {down_s:.0f} s")
            return found
        if kind is RuleKind.SPREAD_ABOVE:
            assert limit is not None
            return {
                subject: Condition(s.value, f"net spread {s.value:g} bps above {limit:g} bps")
                for (signal_kind, subject), s in obs.signals.items()
                if signal_kind == kind.value and s.value > limit
            }
        # events: outage_gap, backtest_failed, strategy_rolled_back (since the last pass)
        found = {}
        for event in events:
            if event.kind != kind.value:
                continue
            value = event.value
            if kind is RuleKind.OUTAGE_GAP and limit is not None and value < limit:
                continue
            found[event.subject] = Condition(value, event.detail)
        return found


class RuleView(msgspec.Struct, frozen=True):
    rule: AlertRule
    firing: list[AlertTransition]  # the alerts of this rule firing now, one per subject


class ManageAlertRules:
    def __init__(self, *, store: AlertStore, clock: Clock, channels: frozenset[str]) -> None:
        self._store = store
        self._clock = clock
        self._channels = channels

    async def overview(self) -> list[RuleView]:
        firing = await self._store.firing()
        return [
            RuleView(
                rule, sorted((t for t in firing if t.rule_id == rule.id), key=lambda t: t.subject)
            )
            for rule in await self._store.list_rules()
        ]

    async def create(self, spec: AlertRuleSpec) -> AlertRule:
        rule = AlertRule.from_spec(
            spec,
            id=f"rule-{uuid.uuid4().hex[:12]}",
            origin=RuleOrigin.API,
            created_at=self._clock.now(),
            known_channels=self._channels,
        )
        await self._store.save_rule(rule)
        return rule

    async def delete(self, rule_id: str) -> None:
        rule = await self._store.get_rule(rule_id)
        if rule.origin is RuleOrigin.CONFIG:
            raise InvalidInput(
                f"rule {rule.name!r} comes from the config ([[alerts.rules]]): remove it there",
                field="rule_id",
            )
        await self._store.delete_rule(rule_id)

    async def history(
        self, rule_id: str | None = None, *, limit: int = 100
    ) -> list[AlertTransition]:
        if not 1 <= limit <= MAX_HISTORY:
            raise InvalidInput(f"limit must be between 1 and {MAX_HISTORY}", field="limit")
        return await self._store.history(rule_id, limit=limit)

    async def sync_config(self, specs: Sequence[AlertRuleSpec]) -> int:
        """The config's rules, kept as config-<name> (changed in place; removed ones go)."""
        now = self._clock.now()
        wanted = {f"config-{spec.name}": spec for spec in specs}
        stored = {rule.id: rule for rule in await self._store.list_rules()}
        for rule_id, spec in wanted.items():
            created = stored[rule_id].created_at if rule_id in stored else now
            rule = AlertRule.from_spec(
                spec,
                id=rule_id,
                origin=RuleOrigin.CONFIG,
                created_at=created,
                known_channels=self._channels,
            )
            if stored.get(rule_id) != rule:
                await self._store.save_rule(rule, replace=True)
        for rule_id, rule in stored.items():
            if rule.origin is RuleOrigin.CONFIG and rule_id not in wanted:
                await self._store.delete_rule(rule_id)
        return len(wanted)


class AlertLoop:
    """Evaluates every ``interval_s`` until closed; a failing pass is logged, not fatal."""

    def __init__(
        self, evaluate: EvaluateAlerts, notifications: Notifications, interval_s: float
    ) -> None:
        self._evaluate = evaluate
        self._notifications = notifications
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="alert rules")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._notifications.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._evaluate.execute()
            except ArbxError as exc:
                log.warning("alert rules could not be evaluated: %s", exc.message)
            except Exception:
                log.exception("alert rules could not be evaluated")
