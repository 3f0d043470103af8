"""Retention rules for stored market data, and the plan of what they delete.

A rule keeps ``keep_days`` of one kind of data (``bars``; trades and quotes are not stored
yet), optionally only for one timeframe and/or one exchange. The most specific matching rule
applies to a series (exchange and timeframe > timeframe > exchange > neither; the first such
rule on a tie); a series no rule matches is kept forever.

What goes is whole calendar months (UTC): everything before the start of the month holding
``now - keep_days``. So at least ``keep_days`` are always kept, the local profile drops whole
partition files, and both profiles delete the same bars.

A stored backtest run that read a series pins it: without ``force`` nothing from the first
bar the run read onwards is deleted (the cut moves back to that bar's month start), so the
run can still be rerun bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import msgspec

from arbx.domain.errors import InvalidInput
from arbx.domain.market.model import Exchange, SeriesKey, Timeframe
from arbx.domain.market.timespan import TimeSpan

KINDS = ("bars",)


class RetentionRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[[retention]] kind = "bars"  timeframe = "1m"  keep_days = 730`` in the config."""

    keep_days: int
    kind: str = "bars"
    timeframe: str | None = None
    exchange: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInput(
                f"retention kind {self.kind!r} is not stored by arbx; use one of"
                f" {', '.join(KINDS)}",
                field="retention.kind",
            )
        if self.keep_days < 1:
            raise InvalidInput(
                f"retention keep_days must be at least 1 (got {self.keep_days}); leave the rule"
                " out to keep a series forever",
                field="retention.keep_days",
            )
        if self.timeframe is not None:
            Timeframe.parse(self.timeframe)
        if self.exchange is not None:
            Exchange.parse(self.exchange)

    def matches(self, key: SeriesKey) -> bool:
        return (self.timeframe is None or Timeframe.parse(self.timeframe) is key.timeframe) and (
            self.exchange is None or Exchange.parse(self.exchange) == key.exchange
        )

    @property
    def specificity(self) -> int:
        return 2 * (self.exchange is not None) + (self.timeframe is not None)

    def describe(self) -> str:
        scope = " ".join(part for part in (self.exchange, self.timeframe) if part is not None)
        return f"{self.kind} {scope or 'all'}: keep {self.keep_days} days"


class RetentionItem(msgspec.Struct, frozen=True, kw_only=True):
    """What the rules decide for one stored series."""

    key: SeriesKey
    rule: RetentionRule
    cutoff: datetime  # the rule's cut: bars before it go
    delete: TimeSpan | None  # what goes after run pins (None: nothing)
    pinned_by: list[str]  # runs that moved the cut back (empty with force)


def month_floor(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def rule_for(rules: Sequence[RetentionRule], key: SeriesKey) -> RetentionRule | None:
    """The most specific rule matching ``key`` (the first on a tie), or None."""
    best: RetentionRule | None = None
    for rule in rules:
        better = best is None or rule.specificity > best.specificity
        if rule.kind == "bars" and rule.matches(key) and better:
            best = rule
    return best


def plan_retention(
    rules: Sequence[RetentionRule],
    series: Sequence[tuple[SeriesKey, datetime]],
    now: datetime,
    pins: Mapping[SeriesKey, Sequence[tuple[str, datetime]]],
    *,
    force: bool = False,
) -> list[RetentionItem]:
    """For each stored (series, first bar): what goes. ``pins`` maps a series to the runs
    that read it, each with the first bar it read."""
    items: list[RetentionItem] = []
    for key, first_ts in series:
        rule = rule_for(rules, key)
        if rule is None:
            continue
        cutoff = month_floor(now - timedelta(days=rule.keep_days))
        cut = cutoff
        pinned_by: list[str] = []
        if not force:
            for run_id, read_from in pins.get(key, ()):
                if read_from < cut:
                    pinned_by.append(run_id)
            if pinned_by:
                earliest = min(t for r, t in pins[key] if r in pinned_by)
                cut = min(cut, month_floor(earliest))
        start = month_floor(first_ts)
        delete = TimeSpan(start, cut) if first_ts < cut else None
        items.append(
            RetentionItem(
                key=key, rule=rule, cutoff=cutoff, delete=delete, pinned_by=sorted(pinned_by)
            )
        )
    return items
