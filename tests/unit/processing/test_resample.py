"""Resampling: hand cases, completeness of the last bucket, and the invariants."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.market import Timeframe
from arbx.domain.processing import resample
from tests.builders import DEFAULT_START, make_bars
from tests.strategies import bar_series


def direct(bars: pl.DataFrame, target: Timeframe) -> pl.DataFrame:
    """An independent aggregation in numpy: group by floor(ts / width)."""
    ms = bars.get_column("ts").dt.epoch("ms").to_numpy()
    bucket = ms - ms % target.ms
    keys, first = np.unique(bucket, return_index=True)
    last = np.concatenate((first[1:], [ms.size])) - 1
    cols = {c: bars.get_column(c).to_numpy() for c in ("open", "high", "low", "close", "volume")}
    return pl.DataFrame(
        {
            "ts": keys,
            "open": cols["open"][first],
            "high": np.maximum.reduceat(cols["high"], first),
            "low": np.minimum.reduceat(cols["low"], first),
            "close": cols["close"][last],
            "volume": np.add.reduceat(cols["volume"], first),
        }
    ).with_columns(pl.col("ts").cast(bars.schema["ts"]))


def test_hand_case_one_hour_of_minutes() -> None:
    bars = make_bars(60, start=DEFAULT_START)
    hour = resample(bars, Timeframe.M1, Timeframe.H1)
    assert hour.row(0) == (
        DEFAULT_START,
        bars["open"][0],
        bars["high"].max(),
        bars["low"].min(),
        bars["close"][59],
        pytest.approx(bars["volume"].sum()),
    )


@pytest.mark.parametrize(
    ("mode", "rows", "complete"),
    [("drop", 2, None), ("keep", 3, None), ("flag", 3, [True, True, False])],
)
def test_an_incomplete_last_bucket_is_dropped_kept_or_flagged(
    mode: str, rows: int, complete: list[bool] | None
) -> None:
    bars = make_bars(150)
    result = resample(bars, Timeframe.M1, Timeframe.H1, incomplete=mode)  # type: ignore[arg-type]
    assert result.height == rows
    if complete is not None:
        assert result.get_column("complete").to_list() == complete


def test_until_says_the_data_are_complete_up_to_a_moment() -> None:
    bars = make_bars(150)
    until = DEFAULT_START + timedelta(hours=3)
    result = resample(bars, Timeframe.M1, Timeframe.H1, incomplete="drop", until=until)
    assert result.height == 3


def test_interior_holes_do_not_make_a_bucket_incomplete() -> None:
    bars = make_bars(180).filter(~pl.int_range(pl.len()).is_between(70, 100))
    result = resample(bars, Timeframe.M1, Timeframe.H1, incomplete="flag")
    assert result.get_column("complete").to_list() == [True, True, True]


def test_bad_requests_are_invalid_input() -> None:
    bars = make_bars(10)
    with pytest.raises(InvalidInput, match="whole multiple"):
        resample(bars, Timeframe.H1, Timeframe.M5)
    with pytest.raises(InvalidInput, match="whole multiple"):
        resample(bars, Timeframe.M3, Timeframe.M5)
    with pytest.raises(InvalidInput, match="sorted"):
        resample(bars.reverse(), Timeframe.M1, Timeframe.H1)


@settings(max_examples=40, deadline=None)
@given(
    bars=bar_series(min_size=1, max_size=400),
    holes=st.lists(st.integers(0, 399), max_size=40),
    target=st.sampled_from([Timeframe.M5, Timeframe.M15, Timeframe.H1, Timeframe.H4]),
)
def test_resample_equals_direct_aggregation(
    bars: pl.DataFrame, holes: list[int], target: Timeframe
) -> None:
    sparse = bars.filter(~pl.int_range(pl.len()).is_in(holes)) if len(holes) < 400 else bars
    if sparse.is_empty():
        sparse = bars
    result = resample(sparse, Timeframe.M1, target, incomplete="keep")
    expected = direct(sparse, target)
    assert result.select("ts", "open", "high", "low", "close").equals(
        expected.select("ts", "open", "high", "low", "close")
    )
    np.testing.assert_allclose(result["volume"].to_numpy(), expected["volume"].to_numpy())


@settings(max_examples=40, deadline=None)
@given(bars=bar_series(min_size=1, max_size=600), mode=st.sampled_from(["keep", "drop"]))
def test_resampling_in_two_steps_equals_one_step(bars: pl.DataFrame, mode: str) -> None:
    one = resample(bars, Timeframe.M1, Timeframe.H1, incomplete=mode)  # type: ignore[arg-type]
    five = resample(bars, Timeframe.M1, Timeframe.M5, incomplete=mode)  # type: ignore[arg-type]
    two = resample(five, Timeframe.M5, Timeframe.H1, incomplete=mode)  # type: ignore[arg-type]
    assert one.select("ts", "open", "high", "low", "close").equals(
        two.select("ts", "open", "high", "low", "close")
    )
    np.testing.assert_allclose(one["volume"].to_numpy(), two["volume"].to_numpy())
