"""The canonical bar frame: coercion and the validator that names the first bad row and column."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.market import (
    BAR_COLUMNS,
    BAR_SCHEMA,
    Timeframe,
    check_bars,
    coerce_bars,
    empty_bars,
    validate_bars,
)
from tests.builders import make_bars
from tests.strategies import bar_series, timeframes


def set_cell(bars: pl.DataFrame, row: int, column: str, value: object) -> pl.DataFrame:
    """``bars`` with one cell replaced (``value`` may be an expression of the row)."""
    new = value if isinstance(value, pl.Expr) else pl.lit(value, dtype=bars.schema[column])
    return bars.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(new).otherwise(pl.col(column)).alias(column)
    )


# kind -> (breaker(bars, row), column the violation names, rule)
BREAKERS: dict[str, tuple[Callable[[pl.DataFrame, int], pl.DataFrame], str, str]] = {
    "nan open": (lambda b, r: set_cell(b, r, "open", float("nan")), "open", "price_not_finite"),
    "zero close": (lambda b, r: set_cell(b, r, "close", 0.0), "close", "price_not_positive"),
    "null low": (lambda b, r: set_cell(b, r, "low", None), "low", "price_not_positive"),
    "infinite high": (
        lambda b, r: set_cell(b, r, "high", float("inf")),
        "high",
        "price_not_finite",
    ),
    "negative volume": (lambda b, r: set_cell(b, r, "volume", -1.0), "volume", "volume_negative"),
    "nan volume": (
        lambda b, r: set_cell(b, r, "volume", float("nan")),
        "volume",
        "volume_not_finite",
    ),
    "high under open/close": (
        lambda b, r: set_cell(b, r, "high", pl.max_horizontal("open", "close") * 0.99),
        "high",
        "high_below_open_close",
    ),
    "low over open/close": (
        lambda b, r: set_cell(b, r, "low", pl.min_horizontal("open", "close") * 1.01),
        "low",
        "low_above_open_close",
    ),
    "null ts": (lambda b, r: set_cell(b, r, "ts", None), "ts", "ts_null"),
    "off-grid ts": (
        lambda b, r: set_cell(b, r, "ts", pl.col("ts") + pl.duration(milliseconds=1)),
        "ts",
        "ts_off_grid",
    ),
}


@settings(max_examples=60, deadline=None)
@given(timeframe=timeframes, data=st.data())
def test_valid_bars_have_no_violations(timeframe: Timeframe, data: st.DataObject) -> None:
    bars = data.draw(bar_series(timeframe=timeframe))

    assert check_bars(bars, timeframe) == []
    assert validate_bars(bars, timeframe).equals(bars)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), kind=st.sampled_from(sorted(BREAKERS)))
def test_the_first_violation_names_the_broken_row_and_column(
    data: st.DataObject, kind: str
) -> None:
    bars = data.draw(bar_series(timeframe=Timeframe.M5, min_size=2, max_size=100))
    row = data.draw(st.integers(0, bars.height - 1))
    breaker, column, rule = BREAKERS[kind]

    violations = check_bars(breaker(bars, row), Timeframe.M5)

    assert violations, kind
    assert (violations[0].row, violations[0].column, violations[0].rule) == (row, column, rule)
    with pytest.raises(InvalidInput, match=rf"^row {row}, column {column}: ") as raised:
        validate_bars(breaker(bars, row), Timeframe.M5)
    assert raised.value.field == column


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_repeated_or_earlier_ts_is_flagged_on_the_later_row(data: st.DataObject) -> None:
    bars = data.draw(bar_series(min_size=3, max_size=100))
    row = data.draw(st.integers(1, bars.height - 1))
    earlier = data.draw(st.integers(0, row - 1))
    broken = set_cell(bars, row, "ts", bars["ts"][earlier])

    first = check_bars(broken, Timeframe.M1)[0]

    assert (first.row, first.column, first.rule) == (row, "ts", "ts_not_ascending")


def test_the_message_counts_further_violations_and_details_list_them() -> None:
    bars = make_bars(30)
    broken = set_cell(set_cell(bars, 17, "high", pl.col("low") * 0.5), 20, "close", -1.0)

    with pytest.raises(InvalidInput) as raised:
        validate_bars(broken)

    assert str(raised.value).startswith("row 17, column high: high is below max(open, close)")
    assert "more violation(s)" in str(raised.value)
    assert {(d["row"], d["column"]) for d in raised.value.details} >= {(17, "high"), (20, "close")}


def test_the_grid_rule_applies_only_with_a_timeframe() -> None:
    bars = make_bars(3, start=datetime(2024, 1, 1, 0, 1, tzinfo=UTC))

    assert check_bars(bars) == []
    assert [v.rule for v in check_bars(bars, Timeframe.H1)] == ["ts_off_grid"] * 3


def test_coerce_puts_columns_in_order_and_drops_extras() -> None:
    bars = make_bars(4)
    shuffled = bars.select(["volume", "close", "ts", "low", "high", "open"]).with_columns(
        pl.lit("x").alias("note")
    )

    assert coerce_bars(shuffled).equals(bars)


def test_coerce_accepts_epoch_ms_other_units_and_zones() -> None:
    bars = make_bars(4)
    as_ms = bars.with_columns(pl.col("ts").dt.epoch("ms"))
    as_naive_us = bars.with_columns(pl.col("ts").dt.replace_time_zone(None).dt.cast_time_unit("us"))
    as_tokyo = bars.with_columns(pl.col("ts").dt.convert_time_zone("Asia/Tokyo"))
    as_ints = bars.with_columns(pl.col("volume").round().cast(pl.Int32))

    for variant in (as_ms, as_naive_us, as_tokyo):
        assert coerce_bars(variant).equals(bars)
    assert coerce_bars(as_ints).schema == pl.Schema(BAR_SCHEMA)


@pytest.mark.parametrize("missing", BAR_COLUMNS)
def test_a_missing_column_is_named(missing: str) -> None:
    with pytest.raises(InvalidInput, match=f"lacks column\\(s\\) {missing}") as raised:
        coerce_bars(make_bars(2).drop(missing))
    assert raised.value.field == missing


@pytest.mark.parametrize(
    ("column", "cast_to"), [("ts", pl.String), ("ts", pl.Float64), ("high", pl.String)]
)
def test_a_column_of_the_wrong_kind_is_named(column: str, cast_to: type[pl.DataType]) -> None:
    bars = make_bars(2)
    if column == "ts":
        bars = bars.with_columns(pl.col("ts").dt.epoch("ms"))
    with pytest.raises(InvalidInput) as raised:
        coerce_bars(bars.with_columns(pl.col(column).cast(cast_to)))
    assert raised.value.field == column


def test_empty_bars_have_the_canonical_schema() -> None:
    empty = empty_bars()

    assert empty.is_empty()
    assert empty.schema == pl.Schema(BAR_SCHEMA)
    assert check_bars(empty, Timeframe.M1) == []
