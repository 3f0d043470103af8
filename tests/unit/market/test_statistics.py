"""Series statistics: coverage by month, gaps, distributions, and the sums that tie them up."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, Timeframe
from arbx.domain.market.statistics import distribution, series_statistics
from tests.builders import make_bars
from tests.strategies import bar_series

KEY = SeriesKey.of("kraken", "BTC/USDC", "1h")


def test_months_gaps_and_edges() -> None:
    # 2024-01-31 22:00 .. 2024-02-01 03:00 hourly, with 01:00 and 02:00 missing
    bars = make_bars(6, start=datetime(2024, 1, 31, 22, tzinfo=UTC), timeframe="1h")
    bars = bars.filter(~pl.col("ts").dt.hour().is_in([1, 2]))
    stats = series_statistics(KEY, bars)
    assert stats.first_ts == datetime(2024, 1, 31, 22, tzinfo=UTC)
    assert stats.last_ts == datetime(2024, 2, 1, 3, tzinfo=UTC)
    assert (stats.rows, stats.expected_bars) == (4, 6)
    assert [(m.month, m.present, m.expected) for m in stats.months] == [
        ("2024-01", 2, 2),
        ("2024-02", 2, 4),
    ]
    assert stats.months[1].coverage == 0.5
    assert (stats.gaps.count, stats.gaps.bars_missing, stats.gaps.longest_bars) == (1, 2, 2)
    assert stats.gaps.longest_start == datetime(2024, 2, 1, 1, tzinfo=UTC)
    # returns only between bars one step apart: 22->23, 23->00, 03 has no neighbour before
    assert stats.returns.count == 2
    close = bars.get_column("close").to_numpy()
    expected = np.log(close[1:3] / close[0:2])
    assert stats.returns.mean == pytest.approx(expected.mean())
    assert stats.volume.count == 4
    assert stats.total_volume == pytest.approx(float(bars.get_column("volume").sum()))


def test_one_bar_has_no_returns_and_no_spread() -> None:
    stats = series_statistics(KEY, make_bars(1, timeframe="1h"))
    assert stats.rows == stats.expected_bars == 1
    assert stats.returns.count == 0
    assert stats.returns.mean is None
    assert stats.volume.count == 1
    assert stats.volume.std is None
    assert stats.gaps.count == 0
    assert stats.gaps.longest_start is None


def test_zero_volume_bars_are_counted() -> None:
    bars = make_bars(10, timeframe="1h", volume=[0.0] * 3 + [5.0] * 7)
    stats = series_statistics(KEY, bars)
    assert stats.zero_volume_bars == 3
    assert stats.volume.min == 0.0
    assert stats.volume.max == 5.0


def test_distribution_matches_numpy() -> None:
    values = np.random.default_rng(3).normal(0.0, 2.0, 1000)
    d = distribution(values)
    assert d.count == 1000
    assert d.p50 == pytest.approx(float(np.median(values)))
    assert d.std == pytest.approx(float(values.std(ddof=1)))
    assert d.min == values.min()
    assert d.max == values.max()
    assert abs(d.skew or 0.0) < 0.3
    assert abs(d.excess_kurtosis or 0.0) < 0.5
    constant = distribution(np.full(5, 2.0))
    assert constant.std == 0.0
    assert constant.skew is None


def test_bad_frames_are_refused() -> None:
    with pytest.raises(InvalidInput, match="holds no bars"):
        series_statistics(KEY, make_bars(3, timeframe="1h").clear())
    shuffled = make_bars(5, timeframe="1h").reverse()
    with pytest.raises(InvalidInput, match="not sorted"):
        series_statistics(KEY, shuffled)
    with pytest.raises(InvalidInput, match="grid"):
        series_statistics(SeriesKey.of("kraken", "BTC/USDC", "1d"), make_bars(3, timeframe="1h"))


@settings(max_examples=60, deadline=None)
@given(
    bars=bar_series(timeframe=Timeframe.M1, min_size=1, max_size=200),
    keep=st.lists(st.booleans(), min_size=200, max_size=200),
    start=st.integers(0, 3 * 365 * 1440),
)
def test_counts_tie_up(bars: pl.DataFrame, keep: list[bool], start: int) -> None:
    """Months add up to the rows; expected slots = rows + missing; quantiles are ordered."""
    mask = pl.Series(keep[: bars.height])
    mask[0] = True
    # spread the series over month ends: shift by a random number of minutes, wider steps
    shifted = bars.with_columns(
        pl.col("ts")
        + pl.duration(minutes=start)
        + pl.int_range(pl.len()).cast(pl.Int64) * pl.duration(hours=7)
    ).filter(mask)
    key = SeriesKey.of("binance", "ETH/USDC", "1m")
    stats = series_statistics(key, shifted)
    assert sum(m.present for m in stats.months) == stats.rows == shifted.height
    assert sum(m.expected for m in stats.months) == stats.expected_bars
    assert stats.expected_bars == stats.rows + stats.gaps.bars_missing
    assert all(0.0 < m.coverage <= 1.0 or m.present == 0 for m in stats.months)
    assert stats.months[0].present >= 1
    assert stats.months[-1].present >= 1
    for d in (stats.returns, stats.volume):
        if d.count:
            qs = [d.min, d.p01, d.p05, d.p25, d.p50, d.p75, d.p95, d.p99, d.max]
            assert all(
                a is not None and b is not None and a <= b for a, b in itertools.pairwise(qs)
            )
