"""Job definitions and their runs.

A ``JobDefinition`` says what to do (kind), to which series (targets), when (schedule), how
hard to retry, and how far back a run reaches. A ``JobRun`` is one attempt at running it.
``JobSpec`` / ``JobPatch`` are the plain-value forms users and the config write; building a
definition from them validates everything and names the offending field.
"""

from __future__ import annotations

import enum
import itertools
import re
from datetime import datetime
from typing import Final

import msgspec

from arbx.domain.errors import InvalidInput
from arbx.domain.jobs.schedule import CronSchedule, IntervalSchedule, Schedule
from arbx.domain.market import Exchange, SeriesKey, Symbol, Timeframe
from arbx.domain.quality import RepairPolicy

MAX_TARGETS: Final = 500
MAX_ATTEMPTS: Final = 10
MAX_BACKOFF_S: Final = 3600.0
MAX_LOOKBACK_BARS: Final = 100_000
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class JobKind(enum.Enum):
    COLLECT = "collect"  # keep series current: fetch the closed bars since the last stored one
    VALIDATE = "validate"  # check the recent window against the data-quality rules
    REPAIR = "repair"  # repair the recent window by the configured policy
    EVALUATE = "evaluate"  # re-run a catalog strategy's approved version on the newest bars
    RETAIN = "retain"  # delete what the [[retention]] rules no longer keep (issue 20)

    @classmethod
    def parse(cls, text: str) -> JobKind:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise InvalidInput(
                f"job kind {text!r} is not known; use one of {', '.join(k.value for k in cls)}",
                field="kind",
            ) from None


class JobOrigin(enum.Enum):
    API = "api"  # created through the API or the CLI; editable there
    CONFIG = "config"  # declared in config/*.toml; the config is its source of truth


class RunStatus(enum.Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunTrigger(enum.Enum):
    SCHEDULE = "schedule"
    MANUAL = "manual"


class RetryPolicy(msgspec.Struct, frozen=True):
    """Up to ``max_attempts`` attempts per run; the wait before attempt n+1 is
    ``backoff_s * backoff_factor**(n-1)``, capped at ``max_backoff_s``."""

    max_attempts: int = 3
    backoff_s: float = 10.0
    backoff_factor: float = 2.0
    max_backoff_s: float = 600.0

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not 1 <= self.max_attempts <= MAX_ATTEMPTS:
            raise InvalidInput(
                f"max_attempts {self.max_attempts!r} is out of range; use 1 to {MAX_ATTEMPTS}",
                field="max_attempts",
            )
        if not 0.0 <= self.backoff_s <= MAX_BACKOFF_S:
            raise InvalidInput(
                f"backoff_s {self.backoff_s!r} is out of range; use 0 to {MAX_BACKOFF_S:g} s",
                field="backoff_s",
            )
        if not 1.0 <= self.backoff_factor <= 10.0:
            raise InvalidInput(
                f"backoff_factor {self.backoff_factor!r} is out of range; use 1 to 10",
                field="backoff_factor",
            )
        if not self.backoff_s <= self.max_backoff_s <= MAX_BACKOFF_S:
            raise InvalidInput(
                f"max_backoff_s {self.max_backoff_s!r} must lie between backoff_s and"
                f" {MAX_BACKOFF_S:g} s",
                field="max_backoff_s",
            )

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next."""
        if attempt < 1:
            raise ValueError("attempt numbers start at 1")
        return float(min(self.backoff_s * self.backoff_factor ** (attempt - 1), self.max_backoff_s))

    def allows_another(self, attempt: int) -> bool:
        return attempt < self.max_attempts


class MarketSpec(msgspec.Struct, frozen=True):
    """Every (exchange, symbol, timeframe) combination of the lists."""

    exchanges: tuple[Exchange, ...]
    symbols: tuple[Symbol, ...]
    timeframes: tuple[Timeframe, ...]

    def __post_init__(self) -> None:
        for name in ("exchanges", "symbols", "timeframes"):
            if not getattr(self, name):
                raise InvalidInput(f"markets.{name} is empty; list at least one", field="markets")

    def series(self) -> tuple[SeriesKey, ...]:
        return tuple(
            SeriesKey(e, s, t)
            for e, s, t in itertools.product(self.exchanges, self.symbols, self.timeframes)
        )


class MarketSpecInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``markets = {exchanges = ["binance", "kraken"], symbols = ["BTC/USDC"], timeframes =
    ["1m"]}`` in plain values."""

    exchanges: list[str]
    symbols: list[str]
    timeframes: list[str]

    def parse(self) -> MarketSpec:
        return MarketSpec(
            tuple(dict.fromkeys(Exchange.parse(e) for e in self.exchanges)),
            tuple(dict.fromkeys(Symbol.parse(s) for s in self.symbols)),
            tuple(dict.fromkeys(Timeframe.parse(t) for t in self.timeframes)),
        )


class JobSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A job as a user or the config writes it (plain values).

    Exactly one of ``interval_s`` and ``cron`` is given; ``cron`` is either five crontab
    fields ("*/5 * * * *") or a table of APScheduler cron fields ({minute = "*/5"}).
    Targets are ``series`` ("binance:BTC/USDC:1m") and/or ``markets``. Repair jobs take a
    ``repair_policy`` ("ffill" by default, "leave", or "venue" with ``reference_exchange``:
    the same pair and timeframe on that venue fills the gaps). Evaluate jobs take
    ``strategy`` (a catalog strategy's name) instead of targets: each run re-runs its
    approved version on the last ``lookback_bars`` bars stored of its first series.
    """

    name: str
    kind: str
    series: list[str] = msgspec.field(default_factory=list)
    markets: MarketSpecInput | None = None
    interval_s: float | None = None
    cron: str | dict[str, str] | None = None
    paused: bool = False
    max_attempts: int = 3
    backoff_s: float = 10.0
    lookback_bars: int = 1440
    repair_policy: str | None = None
    reference_exchange: str | None = None
    strategy: str | None = None


class JobPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Changes to a job; None leaves a field as it is. Giving ``interval_s`` replaces a cron
    schedule and the other way round; giving ``series`` or ``markets`` replaces both target
    lists (pass an empty list to drop one)."""

    name: str | None = None
    kind: str | None = None
    series: list[str] | None = None
    markets: MarketSpecInput | None = None
    interval_s: float | None = None
    cron: str | dict[str, str] | None = None
    paused: bool | None = None
    max_attempts: int | None = None
    backoff_s: float | None = None
    lookback_bars: int | None = None
    repair_policy: str | None = None
    reference_exchange: str | None = None
    strategy: str | None = None


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidInput(
            f"job name {name!r} is not valid; use 1-64 of a-z, 0-9, '.', '_' or '-', starting"
            " with a letter or digit, e.g. 'collect-btc-1m'",
            field="name",
        )
    return name


def parse_schedule(interval_s: float | None, cron: str | dict[str, str] | None) -> Schedule:
    if (interval_s is None) == (cron is None):
        raise InvalidInput(
            "give exactly one schedule: interval_s (seconds) or cron (e.g. '*/5 * * * *')",
            field="schedule",
        )
    if interval_s is not None:
        return IntervalSchedule(float(interval_s))
    if isinstance(cron, str):
        return CronSchedule.from_crontab(cron)
    assert cron is not None
    return CronSchedule.from_fields(cron)


def _repair_options(
    kind: JobKind, policy: str | None, reference: str | None
) -> tuple[RepairPolicy | None, Exchange | None]:
    """Parsed repair options; a repair job without a policy forward-fills."""
    parsed: RepairPolicy | None = None
    if policy:
        try:
            parsed = RepairPolicy.parse(policy)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field="repair_policy") from None
    elif kind is JobKind.REPAIR:
        parsed = RepairPolicy.FORWARD_FILL
    try:
        venue = Exchange.parse(reference) if reference else None
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="reference_exchange") from None
    return parsed, venue


def _parse_series(texts: list[str]) -> tuple[SeriesKey, ...]:
    return tuple(dict.fromkeys(SeriesKey.parse(text) for text in texts))


class JobDefinition(msgspec.Struct, frozen=True):
    """A stored job. Build it with ``from_spec`` (or decode it); fields are validated."""

    id: str
    name: str
    kind: JobKind
    series: tuple[SeriesKey, ...]
    markets: MarketSpec | None
    schedule: Schedule
    retry: RetryPolicy
    lookback_bars: int
    paused: bool
    origin: JobOrigin
    created_at: datetime
    updated_at: datetime
    repair_policy: RepairPolicy | None = None
    reference_exchange: Exchange | None = None
    # evaluate jobs: the catalog strategy whose approved version is re-run (no series)
    strategy: str | None = None

    def __post_init__(self) -> None:
        self._check_repair_options()
        if not self.id or len(self.id) > 64:
            raise InvalidInput("job id must be 1-64 characters", field="id")
        check_name(self.name)
        count = len(self.targets)
        if self.kind is JobKind.EVALUATE or self.strategy is not None:
            self._check_evaluate(count)
        elif count == 0:
            raise InvalidInput(
                "a job needs at least one target: series (e.g. 'binance:BTC/USDC:1m') or markets",
                field="series",
            )
        if count > MAX_TARGETS:
            raise InvalidInput(
                f"a job may target at most {MAX_TARGETS} series, this one has {count};"
                " split it into several jobs",
                field="series",
            )
        if isinstance(self.lookback_bars, bool) or not 1 <= self.lookback_bars <= MAX_LOOKBACK_BARS:
            raise InvalidInput(
                f"lookback_bars {self.lookback_bars!r} is out of range; use 1 to"
                f" {MAX_LOOKBACK_BARS}",
                field="lookback_bars",
            )
        for moment, field in ((self.created_at, "created_at"), (self.updated_at, "updated_at")):
            if moment.tzinfo is None:
                raise InvalidInput(f"{field} must be timezone-aware (UTC)", field=field)

    def _check_evaluate(self, count: int) -> None:
        if self.kind is not JobKind.EVALUATE:
            raise InvalidInput("only evaluate jobs take a strategy", field="strategy")
        if not self.strategy:
            raise InvalidInput(
                "an evaluate job needs strategy: the name of a catalog strategy", field="strategy"
            )
        if count:
            raise InvalidInput(
                "an evaluate job runs on its strategy's own series; drop series and markets",
                field="series",
            )

    def _check_repair_options(self) -> None:
        if self.kind is not JobKind.REPAIR:
            if self.repair_policy is not None or self.reference_exchange is not None:
                raise InvalidInput(
                    "only repair jobs take repair_policy and reference_exchange",
                    field="repair_policy",
                )
            return
        if self.repair_policy is None:
            raise InvalidInput("a repair job needs a repair_policy", field="repair_policy")
        venue = self.repair_policy is RepairPolicy.FROM_VENUE
        if venue and self.reference_exchange is None:
            raise InvalidInput(
                "repair_policy 'venue' needs reference_exchange: the venue whose bars of the"
                " same pair fill the gaps, e.g. 'kraken'",
                field="reference_exchange",
            )
        if not venue and self.reference_exchange is not None:
            raise InvalidInput(
                "reference_exchange is only used with repair_policy 'venue'",
                field="reference_exchange",
            )

    def reference_for(self, key: SeriesKey) -> SeriesKey | None:
        """The series a 'venue' repair of ``key`` fills from (None for other policies)."""
        if self.reference_exchange is None:
            return None
        return SeriesKey(self.reference_exchange, key.symbol, key.timeframe)

    @property
    def targets(self) -> tuple[SeriesKey, ...]:
        """The explicit series, then the market combinations, without repeats."""
        expanded = self.markets.series() if self.markets is not None else ()
        return tuple(dict.fromkeys((*self.series, *expanded)))

    @classmethod
    def from_spec(
        cls,
        spec: JobSpec,
        *,
        id: str,
        origin: JobOrigin,
        created_at: datetime,
        updated_at: datetime | None = None,
    ) -> JobDefinition:
        kind = JobKind.parse(spec.kind)
        policy, reference = _repair_options(kind, spec.repair_policy, spec.reference_exchange)
        return cls(
            id=id,
            name=check_name(spec.name),
            kind=kind,
            series=_parse_series(spec.series),
            markets=spec.markets.parse() if spec.markets is not None else None,
            schedule=parse_schedule(spec.interval_s, spec.cron),
            retry=RetryPolicy(
                max_attempts=spec.max_attempts,
                backoff_s=spec.backoff_s,
                max_backoff_s=max(600.0, spec.backoff_s),
            ),
            lookback_bars=spec.lookback_bars,
            paused=spec.paused,
            origin=origin,
            created_at=created_at,
            updated_at=updated_at or created_at,
            repair_policy=policy,
            reference_exchange=reference,
            strategy=spec.strategy,
        )

    def to_spec(self) -> JobSpec:
        """The plain-value form (what an API answer or a config file shows)."""
        markets = None
        if self.markets is not None:
            markets = MarketSpecInput(
                exchanges=[str(e) for e in self.markets.exchanges],
                symbols=[str(s) for s in self.markets.symbols],
                timeframes=[str(t) for t in self.markets.timeframes],
            )
        schedule = self.schedule
        return JobSpec(
            name=self.name,
            kind=self.kind.value,
            series=[str(key) for key in self.series],
            markets=markets,
            interval_s=schedule.seconds if isinstance(schedule, IntervalSchedule) else None,
            cron=schedule.fields() if isinstance(schedule, CronSchedule) else None,
            paused=self.paused,
            max_attempts=self.retry.max_attempts,
            backoff_s=self.retry.backoff_s,
            lookback_bars=self.lookback_bars,
            repair_policy=None if self.repair_policy is None else self.repair_policy.value,
            reference_exchange=None
            if self.reference_exchange is None
            else str(self.reference_exchange),
            strategy=self.strategy,
        )

    def apply(self, patch: JobPatch, *, at: datetime) -> JobDefinition:
        """This job with ``patch`` applied (validated as a whole), ``updated_at`` = ``at``."""
        spec = self.to_spec()
        changes: dict[str, object] = {
            name: getattr(patch, name)
            for name in (
                "name",
                "kind",
                "paused",
                "max_attempts",
                "backoff_s",
                "lookback_bars",
                "repair_policy",
                "reference_exchange",
                "strategy",
            )
            if getattr(patch, name) is not None
        }
        kind = JobKind.parse(patch.kind) if patch.kind is not None else self.kind
        if kind is not JobKind.EVALUATE:  # leaving evaluate drops its strategy
            changes.setdefault("strategy", None)
        if kind is not JobKind.REPAIR:  # leaving repair drops its options
            changes.setdefault("repair_policy", None)
            changes.setdefault("reference_exchange", None)
        elif patch.repair_policy is not None and patch.reference_exchange is None:
            # switching to a policy without a reference drops the old reference
            policy, _ = _repair_options(kind, patch.repair_policy, None)
            if policy is not RepairPolicy.FROM_VENUE:
                changes["reference_exchange"] = None
        if patch.interval_s is not None or patch.cron is not None:
            changes["interval_s"] = patch.interval_s
            changes["cron"] = patch.cron
        if patch.series is not None or patch.markets is not None:
            changes["series"] = patch.series if patch.series is not None else []
            changes["markets"] = patch.markets
        updated = msgspec.structs.replace(spec, **changes)
        return JobDefinition.from_spec(
            updated, id=self.id, origin=self.origin, created_at=self.created_at, updated_at=at
        )

    def with_paused(self, paused: bool, *, at: datetime) -> JobDefinition:
        return msgspec.structs.replace(self, paused=paused, updated_at=at)

    def same_settings(self, other: JobDefinition) -> bool:
        """True when both define the same work and schedule (ids, times and pause aside)."""
        return self.to_spec() == msgspec.structs.replace(other.to_spec(), paused=self.paused)


class JobRun(msgspec.Struct, frozen=True):
    """One attempt at running a job. ``bars_written`` counts rows inserted or changed."""

    id: str
    job_id: str
    attempt: int
    trigger: RunTrigger
    started_at: datetime
    status: RunStatus = RunStatus.RUNNING
    finished_at: datetime | None = None
    bars_written: int = 0
    error: str | None = None

    def __post_init__(self) -> None:
        if self.attempt < 1:
            raise InvalidInput("attempt numbers start at 1", field="attempt")
        if self.started_at.tzinfo is None:
            raise InvalidInput("started_at must be timezone-aware (UTC)", field="started_at")
        if (self.status is RunStatus.RUNNING) != (self.finished_at is None):
            raise InvalidInput(
                "a running run has no finished_at and a finished run has one",
                field="finished_at",
            )
        if self.finished_at is not None and self.finished_at < self.started_at:
            raise InvalidInput("a run cannot finish before it started", field="finished_at")
        if self.bars_written < 0:
            raise InvalidInput("bars_written cannot be negative", field="bars_written")

    @property
    def is_running(self) -> bool:
        return self.status is RunStatus.RUNNING

    def finish(
        self, status: RunStatus, *, at: datetime, bars_written: int = 0, error: str | None = None
    ) -> JobRun:
        if status is RunStatus.RUNNING:
            raise InvalidInput("a run finishes as succeeded, failed or cancelled", field="status")
        if not self.is_running:
            raise InvalidInput(f"run {self.id} has finished already", field="status")
        return msgspec.structs.replace(
            self,
            status=status,
            finished_at=max(at, self.started_at),
            bars_written=bars_written,
            error=error,
        )
