"""Operations every store shares: upsert merge, change counting, coverage runs, span slices."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, Timeframe, TimeSpan, empty_bars, to_ms
from arbx.domain.market.series_ops import (
    count_changes,
    covered_spans,
    prepare_write,
    slice_span,
    upsert_bars,
)
from tests.builders import make_bars
from tests.strategies import bar_series, timeframes

START = datetime(2024, 1, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)


def as_dict(bars: pl.DataFrame) -> dict[int, tuple[float, ...]]:
    return {to_ms(row[0]): tuple(row[1:]) for row in bars.iter_rows()}


@st.composite
def stored_and_incoming(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two valid frames cut from one series, the second partly rescaled (so partly changed)."""
    base = draw(bar_series(min_size=2, max_size=120))
    n = base.height
    lo, hi = sorted(draw(st.lists(st.integers(0, n), min_size=2, max_size=2)))
    lo2, hi2 = sorted(draw(st.lists(st.integers(0, n), min_size=2, max_size=2)))
    factor = draw(st.sampled_from([1.0, 2.0]))
    incoming = base.slice(lo2, hi2 - lo2).with_columns(
        [pl.col(c) * factor for c in ("open", "high", "low", "close")]
    )
    return base.slice(lo, hi - lo), incoming


@settings(max_examples=80, deadline=None)
@given(stored_and_incoming())
def test_upsert_is_a_merge_by_ts_where_incoming_wins(
    case: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    existing, incoming = case
    expected = as_dict(existing) | as_dict(incoming)
    before = as_dict(existing)
    expected_changes = sum(1 for ts, v in as_dict(incoming).items() if before.get(ts) != v)

    merged, changed = upsert_bars(existing, incoming)

    assert changed == expected_changes == count_changes(existing, incoming)
    assert as_dict(merged) == expected
    assert merged["ts"].is_sorted()
    assert merged["ts"].n_unique() == merged.height


def test_an_identical_upsert_returns_the_stored_frame_untouched() -> None:
    bars = make_bars(10)

    merged, changed = upsert_bars(bars, bars.slice(3, 4))

    assert changed == 0
    assert merged is bars


def test_upsert_into_nothing_takes_everything() -> None:
    bars = make_bars(5)

    merged, changed = upsert_bars(empty_bars(), bars)

    assert changed == 5
    assert merged.equals(bars)


def test_covered_spans_are_runs_of_consecutive_bars() -> None:
    bars = make_bars(10)
    kept = pl.concat([bars.slice(0, 3), bars.slice(5, 1), bars.slice(7, 3)])

    assert covered_spans(kept["ts"], Timeframe.M1) == [
        TimeSpan(at(0), at(3)),
        TimeSpan(at(5), at(6)),
        TimeSpan(at(7), at(10)),
    ]
    assert covered_spans(empty_bars()["ts"], Timeframe.M1) == []


@settings(max_examples=60, deadline=None)
@given(timeframe=timeframes, data=st.data())
def test_covered_spans_hold_every_bar_once_and_nothing_else(
    timeframe: Timeframe, data: st.DataObject
) -> None:
    bars = data.draw(bar_series(timeframe=timeframe, max_size=150))
    keep = data.draw(st.lists(st.booleans(), min_size=bars.height, max_size=bars.height))
    ts = bars.filter(pl.Series(keep))["ts"]

    spans = covered_spans(ts, timeframe)

    assert sum(span.duration // timeframe.duration for span in spans) == ts.len()
    for left, right in itertools.pairwise(spans):
        assert left.end < right.start  # separate runs never touch
    for moment in ts:
        assert sum(span.contains(moment) for span in spans) == 1


def test_slice_span_is_half_open() -> None:
    bars = make_bars(10)

    got = slice_span(bars, TimeSpan(at(2), at(5)))

    assert got["ts"].to_list() == [at(2), at(3), at(4)]
    assert slice_span(empty_bars(), TimeSpan(at(2), at(5))).is_empty()


def test_prepare_write_validates_against_the_keys_grid() -> None:
    hourly = SeriesKey.of("binance", "BTC/USDC", "1h")
    on_grid = make_bars(3, timeframe="1h")

    assert prepare_write(hourly, on_grid).equals(on_grid)
    with pytest.raises(InvalidInput, match="row 0, column ts: ts is not on the 1h grid"):
        prepare_write(hourly, make_bars(3, start=at(1)))
