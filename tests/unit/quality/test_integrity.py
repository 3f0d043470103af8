"""Integrity rules, ordering and duplicates, and the ingest split."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.market import BAR_COLUMNS, check_bars
from arbx.domain.quality import Rule, Severity, validate_for_ingest, validate_series
from tests.builders import key as series_key
from tests.builders import make_bars
from tests.strategies import bar_series

NOW = datetime(2030, 1, 1, tzinfo=UTC)
KEY = series_key("binance:BTC/USDC:1m")


def with_value(bars: pl.DataFrame, column: str, row: int, value: float) -> pl.DataFrame:
    return bars.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(value).otherwise(pl.col(column)).alias(column)
    )


def rules_at(issues: pl.DataFrame, ts: datetime) -> set[str]:
    return set(issues.filter(pl.col("ts") == ts).get_column("rule"))


def test_clean_series_has_no_findings_and_scores_one() -> None:
    result = validate_series(KEY, make_bars(500), now=NOW)

    assert result.issues.is_empty()
    assert result.score.score == 1.0
    assert result.score.coverage == 1.0
    assert result.bars.get_column("quality_score").min() == 1.0


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("open", -1.0, Rule.PRICE_NOT_POSITIVE),
        ("close", float("nan"), Rule.PRICE_NOT_FINITE),
        ("low", float("inf"), Rule.PRICE_NOT_FINITE),
        ("low", float("-inf"), Rule.PRICE_NOT_FINITE),
        ("high", 1.0, Rule.HIGH_BELOW_OPEN_CLOSE),
        ("low", 1000.0, Rule.LOW_ABOVE_OPEN_CLOSE),
        ("volume", -0.5, Rule.VOLUME_NEGATIVE),
        ("volume", float("nan"), Rule.VOLUME_NOT_FINITE),
    ],
)
def test_each_bar_rule_is_an_error_on_its_bar(column: str, value: float, rule: str) -> None:
    bars = with_value(make_bars(50), column, 20, value)

    result = validate_series(KEY, bars, now=NOW)

    ts = bars.get_column("ts")[20]
    assert rule in rules_at(result.issues, ts)
    errors = result.issues.filter(pl.col("severity") == "error")
    assert set(errors.get_column("ts")) == {ts}
    assert result.bars.filter(pl.col("ts") == ts).get_column("quality_score")[0] == 0.0
    assert result.score.error_bars == 1


def test_high_below_low_reports_observed_and_expected() -> None:
    bars = make_bars(10).with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(90.0).otherwise(pl.col("high")).alias("high"),
        pl.when(pl.int_range(pl.len()) == 3).then(95.0).otherwise(pl.col("low")).alias("low"),
    )
    issues = validate_series(KEY, bars, now=NOW).issues
    row = issues.filter(pl.col("rule") == Rule.HIGH_BELOW_LOW).row(0, named=True)
    assert (row["observed"], row["expected"]) == (90.0, 95.0)


def test_off_grid_future_and_forming_bars_are_errors() -> None:
    bars = make_bars(5, start=datetime(2029, 12, 31, 23, 58, tzinfo=UTC))
    shifted = bars.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.col("ts") - pl.duration(seconds=30))
        .otherwise(pl.col("ts"))
        .alias("ts")
    )
    issues = validate_series(KEY, shifted, now=NOW).issues
    by_ts = {ts: rules_at(issues, ts) for ts in shifted.get_column("ts")}
    ts = shifted.get_column("ts")
    assert Rule.TS_OFF_GRID in by_ts[ts[0]]
    assert by_ts[ts[1]] == set()  # 23:59 closes exactly at now
    assert Rule.BAR_NOT_CLOSED in by_ts[ts[2]]  # 00:00 is still forming at 00:00
    assert Rule.TS_IN_FUTURE in by_ts[ts[3]]
    assert Rule.TS_IN_FUTURE in by_ts[ts[4]]


def test_unsorted_input_is_sorted_and_reported_once() -> None:
    bars = make_bars(20)
    shuffled = bars.sample(fraction=1.0, shuffle=True, seed=3)

    result = validate_series(KEY, shuffled, now=NOW)

    assert result.bars.select(BAR_COLUMNS).equals(bars)
    unsorted = result.issues.filter(pl.col("rule") == Rule.TS_NOT_ASCENDING)
    assert unsorted.height == 1
    assert unsorted.get_column("severity")[0] == Severity.WARNING.value


def test_conflicting_duplicate_keeps_last_row_and_warns() -> None:
    bars = make_bars(10)
    other = with_value(bars[4:5], "close", 0, bars["close"][4] * 1.001).with_columns(
        pl.max_horizontal("high", "close").alias("high")
    )
    frame = pl.concat([bars, other, bars[7:8]])

    result = validate_series(KEY, frame, now=NOW)

    assert result.bars.height == 10
    kept = result.bars.filter(pl.col("ts") == bars["ts"][4])
    assert kept.get_column("close")[0] == other["close"][0]
    conflict = result.issues.filter(pl.col("rule") == Rule.DUPLICATE_CONFLICT)
    identical = result.issues.filter(pl.col("rule") == Rule.DUPLICATE_IDENTICAL)
    assert conflict.get_column("ts").to_list() == [bars["ts"][4]]
    assert conflict.get_column("severity")[0] == "warning"
    assert identical.get_column("ts").to_list() == [bars["ts"][7]]
    assert sorted(result.dropped.get_column("row").to_list()) == [4, 7]


def test_missing_column_is_invalid_input_naming_it() -> None:
    with pytest.raises(InvalidInput) as err:
        validate_series(KEY, make_bars(3).drop("volume"), now=NOW)
    assert err.value.field == "volume"


def test_ingest_split_rejects_integrity_errors_with_reasons() -> None:
    bars = with_value(with_value(make_bars(30), "open", 5, -1.0), "volume", 9, -2.0)
    frame = pl.concat([bars, bars[12:13]])  # row 30 duplicates row 12

    split = validate_for_ingest(KEY, frame, now=NOW)

    assert split.rejected.get_column("row").to_list() == [5, 9, 12]
    reasons = dict(zip(split.rejected["row"], split.rejected["reasons"], strict=True))
    assert Rule.PRICE_NOT_POSITIVE in reasons[5]
    assert reasons[9] == Rule.VOLUME_NEGATIVE
    assert reasons[12] == "duplicate_ts"
    assert split.accepted.height == 28
    assert split.accepted.columns == [*BAR_COLUMNS, "quality_score"]
    assert check_bars(split.accepted.select(BAR_COLUMNS), KEY.timeframe) == []
    assert split.accepted.get_column("quality_score").is_between(0.0, 1.0).all()


@settings(max_examples=25, deadline=None)
@given(
    bars=bar_series(min_size=5, max_size=200),
    corrupt=st.lists(st.integers(0, 199), max_size=5),
    scale=st.sampled_from([-1.0, 0.0, float("nan"), 1e6]),
)
def test_validation_never_mutates_its_input(
    bars: pl.DataFrame, corrupt: list[int], scale: float
) -> None:
    rows = [r % bars.height for r in corrupt]
    frame = bars.with_columns(
        pl.when(pl.int_range(pl.len()).is_in(rows))
        .then(pl.col("close") * scale)
        .otherwise(pl.col("close"))
        .alias("close")
    ).reverse()
    before = frame.clone()

    split = validate_for_ingest(KEY, frame, now=NOW)
    result = validate_series(KEY, frame, now=NOW)

    assert frame.equals(before)
    assert split.accepted.height + split.rejected.height == frame.height
    assert result.bars.height == frame.height
    assert 0.0 <= result.score.score <= 1.0


def test_bars_before_1970_are_errors() -> None:
    bars = make_bars(3, start=datetime(1969, 12, 31, 23, 59, tzinfo=UTC))
    issues = validate_series(KEY, bars, now=NOW).issues
    ts = bars.get_column("ts")
    assert Rule.TS_BEFORE_EPOCH in rules_at(issues, ts[0])
    assert Rule.TS_BEFORE_EPOCH not in rules_at(issues, ts[1])  # 1970-01-01 00:00 is fine
    year_one = make_bars(2, start=datetime(1, 1, 1, tzinfo=UTC))
    found = validate_series(KEY, year_one, now=NOW).issues
    assert all(Rule.TS_BEFORE_EPOCH in rules_at(found, t) for t in year_one.get_column("ts"))
