"""Gap detection on the grid, causes from evidence, and carrying statuses over."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.market import Timeframe, TimeSpan, empty_bars
from arbx.domain.quality import DataGap, GapCause, GapStatus, detect_gaps, merge_gap_status
from tests.builders import DEFAULT_START, make_bars
from tests.builders import key as series_key
from tests.strategies import bar_series


def minute(i: int) -> datetime:
    return DEFAULT_START + timedelta(minutes=i)


def drop_rows(bars: pl.DataFrame, rows: list[int]) -> pl.DataFrame:
    return bars.filter(~pl.int_range(pl.len()).is_in(rows))


def test_a_hole_in_the_middle_is_one_gap_with_its_extent() -> None:
    bars = drop_rows(make_bars(30), [10, 11, 12, 20])

    gaps = detect_gaps(series_key("binanceus:BTC/USDT:1m"), bars)

    assert [(g.start, g.end, g.bars_missing) for g in gaps] == [
        (minute(10), minute(13), 3),
        (minute(20), minute(21), 1),
    ]
    assert all(g.status is GapStatus.OPEN and g.cause is GapCause.UNKNOWN for g in gaps)


def test_a_span_wider_than_the_data_reports_the_edges() -> None:
    bars = make_bars(10, start=minute(5))
    span = TimeSpan(minute(0), minute(20))

    gaps = detect_gaps(series_key(), bars, span=span)

    assert [(g.start, g.end) for g in gaps] == [(minute(0), minute(5)), (minute(15), minute(20))]


def test_a_series_without_bars_is_one_gap_over_the_span() -> None:
    gaps = detect_gaps(series_key(), empty_bars(), span=TimeSpan(minute(0), minute(60)))
    assert [(g.bars_missing) for g in gaps] == [60]


def test_short_holes_on_a_venue_that_omits_quiet_minutes_are_no_trades() -> None:
    bars = drop_rows(make_bars(300), [*range(10, 15), *range(100, 250)])

    gaps = detect_gaps(series_key("kraken:BTC/USDC:1m"), bars, quiet_limit_bars=60)

    assert [g.cause for g in gaps] == [GapCause.NO_TRADES, GapCause.UNKNOWN]


def neighbour(volume: float, n: int = 300) -> dict[object, pl.DataFrame]:
    return {
        series_key("binanceus:BTC/USDC:1m"): make_bars(n, seed=9).with_columns(
            pl.lit(volume).alias("volume")
        )
    }


def test_neighbours_trading_through_a_long_hole_make_it_an_outage() -> None:
    bars = drop_rows(make_bars(300), list(range(100, 250)))
    gaps = detect_gaps(series_key("kraken:BTC/USDC:1m"), bars, evidence=neighbour(3.0))  # type: ignore[arg-type]
    assert [g.cause for g in gaps] == [GapCause.OUTAGE]


def test_quiet_neighbours_make_a_hole_no_trades_even_on_a_venue_printing_empty_bars() -> None:
    bars = drop_rows(make_bars(300), list(range(100, 250)))
    key = series_key("coinbase:BTC/USDC:1m")
    gaps = detect_gaps(key, bars, evidence=neighbour(0.0), omits_empty_bars=False)  # type: ignore[arg-type]
    assert [g.cause for g in gaps] == [GapCause.NO_TRADES]


def test_neighbours_that_do_not_cover_the_hole_are_no_evidence() -> None:
    bars = drop_rows(make_bars(300), list(range(100, 250)))
    key = series_key("binanceus:BTC/USDT:1m")
    gaps = detect_gaps(key, bars, evidence=neighbour(3.0, n=50))  # type: ignore[arg-type]
    assert [g.cause for g in gaps] == [GapCause.UNKNOWN]


def test_evidence_on_another_timeframe_is_invalid_input() -> None:
    bars = drop_rows(make_bars(30), [5])
    with pytest.raises(InvalidInput) as err:
        detect_gaps(series_key(), bars, evidence={series_key("kraken:BTC/USDC:5m"): bars})
    assert err.value.field == "evidence"


@settings(max_examples=40, deadline=None)
@given(
    timeframe=st.sampled_from([Timeframe.M1, Timeframe.M5, Timeframe.H1, Timeframe.D1]),
    data=st.data(),
)
def test_deleting_k_bars_makes_detection_find_exactly_those_k(
    timeframe: Timeframe, data: st.DataObject
) -> None:
    bars = data.draw(bar_series(timeframe=timeframe, min_size=2, max_size=200))
    rows = data.draw(st.sets(st.integers(0, bars.height - 1), max_size=bars.height - 1))
    ts = bars.get_column("ts")
    span = TimeSpan(ts[0], ts[-1] + timeframe.duration)
    key = series_key(f"binance:BTC/USDC:{timeframe.value}")

    gaps = detect_gaps(key, drop_rows(bars, sorted(rows)), span=span)

    found = {g.start + timeframe.duration * i for g in gaps for i in range(g.bars_missing)}
    assert found == {ts[r] for r in rows}
    assert sum(g.bars_missing for g in gaps) == len(rows)
    assert all(g.end - g.start == timeframe.duration * g.bars_missing for g in gaps)


def test_merge_keeps_decisions_and_filled_gaps() -> None:
    key = series_key()

    def gap(a: int, b: int, status: GapStatus = GapStatus.OPEN) -> DataGap:
        return DataGap(key, minute(a), minute(b), b - a, GapCause.UNKNOWN, status)

    stored = [
        gap(0, 5, GapStatus.ACCEPTED),
        gap(10, 12, GapStatus.FILLED),
        gap(20, 22, GapStatus.ACCEPTED),  # its bars arrived since
    ]
    detected = [gap(0, 5), gap(30, 31)]

    merged = merge_gap_status(detected, stored)

    assert [(g.start, g.status) for g in merged] == [
        (minute(0), GapStatus.ACCEPTED),
        (minute(10), GapStatus.FILLED),
        (minute(30), GapStatus.OPEN),
    ]


def test_detection_is_pure() -> None:
    bars = drop_rows(make_bars(50), [3])
    before = bars.clone()
    detect_gaps(series_key(), bars, span=TimeSpan(minute(0), minute(60)))
    assert bars.equals(before)
