"""Retention plans: whole months, the most specific rule, runs pin what they read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.market.retention import RetentionRule, month_floor, plan_retention, rule_for

NOW = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
M1 = SeriesKey.of("kraken", "BTC/USDC", "1m")
H1 = SeriesKey.of("kraken", "BTC/USDC", "1h")
B1 = SeriesKey.of("binance", "BTC/USDC", "1m")
FIRST = datetime(2020, 5, 17, 8, 0, tzinfo=UTC)


def test_the_most_specific_rule_wins() -> None:
    rules = [
        RetentionRule(keep_days=3650),
        RetentionRule(keep_days=730, timeframe="1m"),
        RetentionRule(keep_days=30, timeframe="1m", exchange="binance"),
    ]
    assert rule_for(rules, M1) == rules[1]
    assert rule_for(rules, B1) == rules[2]
    assert rule_for(rules, H1) == rules[0]
    assert rule_for(rules[1:], H1) is None


def test_whole_months_before_the_cut_go() -> None:
    rules = [RetentionRule(keep_days=730, timeframe="1m")]
    [item] = plan_retention(rules, [(M1, FIRST), (H1, FIRST)], NOW, {})
    # 2026-12-03 - 730 days = 2024-12-03: everything before 2024-12-01 goes
    assert item.cutoff == datetime(2024, 12, 1, tzinfo=UTC)
    assert item.delete == TimeSpan(datetime(2020, 5, 1, tzinfo=UTC), item.cutoff)
    assert item.pinned_by == []


def test_a_stored_run_pins_what_it_read_unless_forced() -> None:
    rules = [RetentionRule(keep_days=730)]
    pins = {M1: [("run-a", datetime(2023, 7, 9, 12, tzinfo=UTC)), ("run-b", NOW)]}
    [item] = plan_retention(rules, [(M1, FIRST)], NOW, pins)
    assert item.pinned_by == ["run-a"]
    assert item.delete == TimeSpan(
        datetime(2020, 5, 1, tzinfo=UTC), datetime(2023, 7, 1, tzinfo=UTC)
    )
    [forced] = plan_retention(rules, [(M1, FIRST)], NOW, pins, force=True)
    assert forced.pinned_by == []
    assert forced.delete is not None
    assert forced.delete.end == datetime(2024, 12, 1, tzinfo=UTC)
    # a run reading from the first month pins everything
    [kept] = plan_retention(rules, [(M1, FIRST)], NOW, {M1: [("run-c", FIRST)]})
    assert kept.delete is None


def test_nothing_goes_from_a_young_series() -> None:
    [item] = plan_retention([RetentionRule(keep_days=30)], [(M1, NOW)], NOW, {})
    assert item.delete is None


def test_bad_rules_are_refused() -> None:
    with pytest.raises(InvalidInput, match="keep_days must be at least 1"):
        RetentionRule(keep_days=0)
    with pytest.raises(InvalidInput, match="retention kind 'trades' is not stored"):
        RetentionRule(keep_days=30, kind="trades")
    with pytest.raises(InvalidInput, match="timeframe '7m'"):
        RetentionRule(keep_days=30, timeframe="7m")


@given(
    keep=st.integers(1, 5000),
    first=st.datetimes(datetime(2010, 1, 1), datetime(2026, 12, 1), timezones=st.just(UTC)),
    pin=st.none()
    | st.datetimes(datetime(2010, 1, 1), datetime(2026, 12, 1), timezones=st.just(UTC)),
)
def test_at_least_keep_days_and_every_pinned_bar_stay(
    keep: int, first: datetime, pin: datetime | None
) -> None:
    pins = {} if pin is None or pin < first else {M1: [("run", pin)]}
    [item] = plan_retention([RetentionRule(keep_days=keep)], [(M1, first)], NOW, pins)
    if item.delete is None:
        return
    assert item.delete.start == month_floor(first)
    assert item.delete.end.day == 1
    assert (NOW - item.delete.end).total_seconds() >= keep * 86400
    if pins:
        assert pin is not None
        assert item.delete.end <= pin
