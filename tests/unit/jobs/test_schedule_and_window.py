"""Cron field validation and the window a run works on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.jobs import (
    CronSchedule,
    JobKind,
    check_cron_field,
    closed_until,
    collection_window,
    lookback_window,
    run_window,
)
from arbx.domain.market import Timeframe, TimeSpan

NOW = datetime(2025, 3, 1, 12, 7, 31, tzinfo=UTC)

VALID = [
    ("second", "0"),
    ("second", "*/15"),
    ("minute", "0,15,30,45"),
    ("minute", "5-55/10"),
    ("minute", "5/10"),
    ("hour", "0-23"),
    ("day", "1"),
    ("day", "last"),
    ("day", "last fri"),
    ("day", "2nd mon"),
    ("month", "jan-mar"),
    ("month", "1-12/3"),
    ("day_of_week", "mon-fri"),
    ("day_of_week", "sat,sun"),
    ("day_of_week", "0-4"),
]
INVALID = [
    ("second", "60"),
    ("minute", ""),
    ("minute", "*/0"),
    ("minute", "*/60"),
    ("minute", "10-5"),
    ("minute", "5-"),
    ("hour", "24"),
    ("hour", "a"),
    ("day", "0"),
    ("day", "32"),
    ("day", "6th mon"),
    ("day", "last funday"),
    ("month", "13"),
    ("month", "mar-jan"),
    ("month", "janu"),
    ("day_of_week", "7"),
    ("day_of_week", "fri-mon"),
    ("day_of_week", "mon-fri/2"),
    ("day_of_week", "monday"),
]


@pytest.mark.parametrize(("field", "expression"), VALID)
def test_valid_cron_fields_pass(field: str, expression: str) -> None:
    check_cron_field(field, expression)


@pytest.mark.parametrize(("field", "expression"), INVALID)
def test_invalid_cron_fields_name_the_cron_field(field: str, expression: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_cron_field(field, expression)
    assert caught.value.field == "cron"
    assert field in caught.value.message


def test_crontab_puts_fields_in_place_and_refuses_numeric_weekdays() -> None:
    schedule = CronSchedule.from_crontab(" 30 2 1 jan mon ")
    assert schedule.fields() == {
        "second": "0",
        "minute": "30",
        "hour": "2",
        "day": "1",
        "month": "jan",
        "day_of_week": "mon",
    }
    with pytest.raises(InvalidInput, match="day names"):
        CronSchedule.from_crontab("0 0 * * 0")


def test_closed_until_is_the_open_of_the_forming_bar() -> None:
    assert closed_until(NOW, Timeframe.M1) == datetime(2025, 3, 1, 12, 7, tzinfo=UTC)
    assert closed_until(NOW, Timeframe.H1) == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        closed_until(NOW.replace(tzinfo=None), Timeframe.M1)


def test_collection_starts_after_the_stored_bars() -> None:
    stored = datetime(2025, 3, 1, 12, 2, tzinfo=UTC)  # bars up to 12:01 stored
    window = collection_window(NOW, Timeframe.M1, 1440, stored)
    assert window == TimeSpan(stored, datetime(2025, 3, 1, 12, 7, tzinfo=UTC))


def test_collection_is_bounded_by_the_lookback() -> None:
    end = datetime(2025, 3, 1, 12, 7, tzinfo=UTC)
    assert collection_window(NOW, Timeframe.M1, 10, None) == TimeSpan(
        end - timedelta(minutes=10), end
    )
    long_ago = datetime(2025, 1, 1, tzinfo=UTC)
    assert collection_window(NOW, Timeframe.M1, 10, long_ago) == TimeSpan(
        end - timedelta(minutes=10), end
    )


def test_a_current_series_needs_no_run() -> None:
    assert collection_window(NOW, Timeframe.M1, 60, datetime(2025, 3, 1, 12, 7, tzinfo=UTC)) is None


def test_validate_and_repair_look_back_a_fixed_window() -> None:
    window = run_window(JobKind.VALIDATE, NOW, Timeframe.H1, 24, stored_until=None)
    assert window == TimeSpan(
        datetime(2025, 2, 28, 12, 0, tzinfo=UTC), datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    )
    assert run_window(JobKind.REPAIR, NOW, Timeframe.H1, 24) == window
    with pytest.raises(InvalidInput):
        lookback_window(NOW, Timeframe.H1, 0)


@settings(max_examples=80, deadline=None)
@given(
    now_ms=st.integers(1_600_000_000_000, 1_900_000_000_000),
    timeframe=st.sampled_from(list(Timeframe)),
    lookback=st.integers(1, 5000),
    stored_back=st.one_of(st.none(), st.integers(-3, 6000)),
)
def test_collection_window_only_holds_closed_grid_bars_after_the_store(
    now_ms: int, timeframe: Timeframe, lookback: int, stored_back: int | None
) -> None:
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    end = closed_until(now, timeframe)
    stored = None if stored_back is None else end - stored_back * timeframe.duration
    window = collection_window(now, timeframe, lookback, stored)
    if window is None:
        assert stored is not None
        assert stored >= end
        return
    assert window.end == end <= now
    assert timeframe.is_aligned(window.start)
    assert window.duration <= lookback * timeframe.duration
    if stored is not None:
        assert window.start >= stored
        if window.start > stored:
            assert window.duration == lookback * timeframe.duration
