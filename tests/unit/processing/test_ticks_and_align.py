"""Ticks to bars, and aligning venues on one axis."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.market import Timeframe, TimeSpan, check_bars
from arbx.domain.processing import align_series, resample, ticks_to_bars
from tests.builders import DEFAULT_START, make_bars

T0 = int(DEFAULT_START.timestamp() * 1000)


def ticks(rows: list[tuple[int, float, float, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["ts", "price", "qty", "side"], orient="row")


def test_ticks_become_ohlcv_with_first_and_last_trade_in_time_order() -> None:
    frame = ticks(
        [
            (T0 + 61_000, 10.0, 1.0, "buy"),
            (T0 + 5_000, 5.0, 2.0, "sell"),
            (T0 + 1_000, 4.0, 1.0, "buy"),
            (T0 + 5_000, 6.0, 0.5, "BUY"),  # same ms as the sell: keeps the caller's order
            (T0 + 59_999, 3.0, 1.0, None),
        ]
    )

    bars = ticks_to_bars(frame, Timeframe.M1, with_flow=True)

    assert bars.rows() == [
        (DEFAULT_START, 4.0, 6.0, 3.0, 3.0, 4.5, 4, 1.5),
        (DEFAULT_START + timedelta(minutes=1), 10.0, 10.0, 10.0, 10.0, 1.0, 1, 1.0),
    ]
    assert check_bars(bars.drop("trades", "buy_volume"), Timeframe.M1) == []


@pytest.mark.parametrize(
    ("column", "value", "field"),
    [("price", -1.0, "price"), ("price", float("nan"), "price"), ("qty", -1.0, "qty")],
)
def test_bad_ticks_are_invalid_input_naming_column_and_row(
    column: str, value: float, field: str
) -> None:
    frame = ticks([(T0, 1.0, 1.0, "buy"), (T0 + 1, 1.0, 1.0, "sell")])
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(value).otherwise(pl.col(column)).alias(column)
    )
    with pytest.raises(InvalidInput, match="tick row 1") as err:
        ticks_to_bars(frame, Timeframe.M1)
    assert err.value.field == field


def test_unknown_side_is_invalid_input_when_the_flow_is_asked_for() -> None:
    frame = ticks([(T0, 1.0, 1.0, "short")])
    with pytest.raises(InvalidInput) as err:
        ticks_to_bars(frame, Timeframe.M1, with_flow=True)
    assert err.value.field == "side"
    assert ticks_to_bars(frame, Timeframe.M1).height == 1  # side is not used without flow


def test_no_ticks_no_bars() -> None:
    empty = pl.DataFrame(schema={"ts": pl.Int64, "price": pl.Float64, "qty": pl.Float64})
    assert ticks_to_bars(empty, Timeframe.M1).is_empty()
    assert ticks_to_bars(empty, Timeframe.M1, with_flow=True).columns[-2:] == [
        "trades",
        "buy_volume",
    ]


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 2000),
    target=st.sampled_from([Timeframe.M5, Timeframe.H1]),
)
def test_ticks_to_1m_then_resample_equals_ticks_to_target(
    seed: int, n: int, target: Timeframe
) -> None:
    rng = np.random.default_rng(seed)
    ts = T0 + np.sort(rng.integers(0, 6 * 3_600_000, n))
    frame = pl.DataFrame(
        {"ts": ts, "price": 100 * np.exp(rng.normal(0, 0.01, n)), "qty": rng.random(n)}
    )
    direct = ticks_to_bars(frame, target)
    via_minutes = resample(
        ticks_to_bars(frame, Timeframe.M1), Timeframe.M1, target, incomplete="keep"
    )
    assert direct.select("ts", "open", "high", "low", "close").equals(
        via_minutes.select("ts", "open", "high", "low", "close")
    )
    np.testing.assert_allclose(direct["volume"].to_numpy(), via_minutes["volume"].to_numpy())


def test_align_on_the_grid_marks_presence() -> None:
    a = make_bars(4)
    b = make_bars(6).filter(pl.int_range(pl.len()).is_in([1, 5]))

    wide = align_series({"kraken": a, "coinbase": b}, Timeframe.M1, columns=["close"])

    assert wide.columns == [
        "ts",
        "kraken_close",
        "kraken_present",
        "coinbase_close",
        "coinbase_present",
    ]
    assert wide.height == 6
    assert wide.get_column("kraken_present").to_list() == [True] * 4 + [False] * 2
    assert wide.get_column("coinbase_present").to_list() == [False, True, False, False, False, True]
    assert wide.get_column("coinbase_close")[1] == b["close"][0]
    assert wide.get_column("coinbase_close")[0] is None


def test_align_union_and_intersection_axes() -> None:
    a = make_bars(10).filter(pl.int_range(pl.len()).is_in([0, 2, 4]))
    b = make_bars(10).filter(pl.int_range(pl.len()).is_in([2, 4, 6]))
    union = align_series({"a": a, "b": b}, Timeframe.M1, axis="union")
    inter = align_series({"a": a, "b": b}, Timeframe.M1, axis="intersection")
    assert union.height == 4
    assert inter.get_column("ts").to_list() == b["ts"][:2].to_list()


def test_align_over_a_span_uses_the_span_grid() -> None:
    span = TimeSpan(DEFAULT_START + timedelta(minutes=2), DEFAULT_START + timedelta(minutes=12))
    wide = align_series({"a": make_bars(5)}, Timeframe.M1, span=span, columns=["close"])
    assert wide.height == 10
    assert wide.get_column("a_present").sum() == 3


def test_align_needs_series() -> None:
    with pytest.raises(InvalidInput):
        align_series({}, Timeframe.M1)
