"""normalize_bar_table: real-file quirks in, canonical bars and an honest report out."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.market import Timeframe
from arbx.domain.market.tabular import TimeUnit, normalize_bar_table
from tests.builders import make_bars
from tests.strategies import bar_series

T0 = 1_678_406_400_000  # 2023-03-10 00:00 UTC


def raw(ts: list[object], **cols: list[float]) -> pl.DataFrame:
    n = len(ts)
    base = {
        "open": [10.0] * n,
        "high": [11.0] * n,
        "low": [9.0] * n,
        "close": [10.5] * n,
        "volume": [1.0] * n,
    }
    base.update(cols)
    return pl.DataFrame({"timestamp": ts, **base}, strict=False)


def ts_ms(frame: pl.DataFrame) -> list[int]:
    return frame["ts"].dt.epoch("ms").to_list()


@pytest.mark.parametrize(
    ("values", "unit"),
    [
        ([1_678_406_400_000, 1_678_406_460_000], TimeUnit.AUTO),
        ([1_678_406_400, 1_678_406_460], TimeUnit.AUTO),
        ([1_678_406_400, 1_678_406_460], TimeUnit.SECONDS),
        ([1_678_406_400_000, 1_678_406_460_000], TimeUnit.MILLISECONDS),
        (["2023-03-10T00:00:00Z", "2023-03-10 00:01:00"], TimeUnit.AUTO),
        (["2023-03-10T01:00:00+01:00", "2023-03-10T00:01:00.000Z"], TimeUnit.ISO),
        (["1678406400000", "2023-03-10T00:01:00Z"], TimeUnit.AUTO),
    ],
)
def test_time_forms_parse_to_the_same_instants(values: list[object], unit: TimeUnit) -> None:
    result = normalize_bar_table(raw(values), Timeframe.M1, time_unit=unit)
    assert ts_ms(result.bars) == [1_678_406_400_000, 1_678_406_460_000]
    assert result.rejected == []


def test_descending_files_come_out_sorted() -> None:
    result = normalize_bar_table(raw([T0 + 120_000, T0 + 60_000, T0]), Timeframe.M1)
    assert ts_ms(result.bars) == [T0, T0 + 60_000, T0 + 120_000]


def test_columns_are_found_by_alias_and_mapping() -> None:
    frame = pl.DataFrame(
        {
            "Unix Timestamp": [60],
            "Date": ["x"],
            "Open": [1.0],
            "High": [2.0],
            "Low": [0.5],
            "Close": [1.5],
            "Volume BTC": [3.0],
            "Volume USD": [4.5],
        }
    )
    with pytest.raises(InvalidInput, match="no column for volume") as info:
        normalize_bar_table(frame, Timeframe.M1)
    assert info.value.field == "volume"
    result = normalize_bar_table(frame, Timeframe.M1, {"volume": "Volume BTC"})
    assert result.bars.row(0) == (datetime(1970, 1, 1, 0, 1, tzinfo=UTC), 1.0, 2.0, 0.5, 1.5, 3.0)


def test_mapping_to_a_missing_column_names_it() -> None:
    with pytest.raises(InvalidInput, match="'Nope'"):
        normalize_bar_table(raw([60_000]), Timeframe.M1, {"close": "Nope"})


def test_bad_rows_are_rejected_with_source_row_and_rule() -> None:
    frame = raw(
        [T0, T0 + 60_000, T0 + 120_000, T0 + 150_000, T0 + 240_000, "bad"],
        high=[11.0, 8.0, 11.0, 11.0, 11.0, 11.0],
        close=[10.5, 10.5, float("nan"), 10.5, 10.5, 10.5],
    )
    result = normalize_bar_table(frame, Timeframe.M1)
    assert ts_ms(result.bars) == [T0, T0 + 240_000]
    by_row = {(r.row, r.rule) for r in result.rejected}
    assert (1, "high_below_open_close") in by_row
    assert (2, "price_not_finite") in by_row
    assert (3, "ts_off_grid") in by_row
    assert (5, "ts_unparsed") in by_row
    assert {r.row for r in result.rejected} == {1, 2, 3, 5}


def test_exact_repeats_are_dropped_and_conflicts_rejected() -> None:
    frame = raw([0, 0, 60_000, 60_000], close=[10.5, 10.5, 10.5, 10.7])
    result = normalize_bar_table(frame, Timeframe.M1)
    assert result.duplicates_dropped == 1
    assert ts_ms(result.bars) == [0]
    assert sorted((r.row, r.rule) for r in result.rejected) == [
        (2, "ts_conflict"),
        (3, "ts_conflict"),
    ]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            pl.DataFrame(
                {"timestamp": [], "open": [], "high": [], "low": [], "close": [], "volume": []}
            ),
            "no rows",
        ),
        (raw(["nope", "never"]), "does not parse as time"),
        (raw([0, 60_000], low=[12.0, 12.0]), "no usable row"),
        (
            pl.DataFrame(
                {
                    "timestamp": [0],
                    "open": ["a"],
                    "high": [1.0],
                    "low": [1.0],
                    "close": [1.0],
                    "volume": [1.0],
                }
            ),
            "no usable row",
        ),
    ],
)
def test_unusable_tables_raise(frame: pl.DataFrame, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        normalize_bar_table(frame, Timeframe.M1)


def test_input_is_not_mutated() -> None:
    frame = raw([120_000, 60_000])
    before = frame.clone()
    normalize_bar_table(frame, Timeframe.M1)
    assert frame.equals(before)


@settings(max_examples=40, deadline=None)
@given(bars=bar_series(), shuffle_seed=st.integers(0, 1000))
def test_valid_bars_survive_any_row_order(bars: pl.DataFrame, shuffle_seed: int) -> None:
    shuffled = bars.with_columns(pl.col("ts").dt.epoch("ms")).sample(
        fraction=1.0, shuffle=True, seed=shuffle_seed
    )
    result = normalize_bar_table(shuffled, Timeframe.M1)
    assert result.rejected == []
    assert result.bars.equals(bars)


def test_builder_bars_round_trip_through_iso_text() -> None:
    bars = make_bars(50, timeframe="5m")
    text = bars.with_columns(pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%SZ"))
    assert normalize_bar_table(text, Timeframe.M5).bars.equals(bars)


def test_series_keys_sort_by_timeframe_width() -> None:
    from arbx.domain.market import SeriesKey

    keys = [SeriesKey.parse(f"kraken:BTC/USD:{tf}") for tf in ("1d", "1m", "4h", "5m")]
    assert [str(k.timeframe) for k in sorted(keys)] == ["1m", "5m", "4h", "1d"]
    assert sorted(Timeframe)[0] is Timeframe.M1


def test_a_time_format_that_matches_no_row_names_the_format_and_a_value() -> None:
    table = raw(["2017-07-01 11-AM", "2017-07-01 12-PM"])
    with pytest.raises(InvalidInput, match=r"does not match --time-format '%Y-%m-%d %H'") as caught:
        normalize_bar_table(table, Timeframe("1h"), time_format="%Y-%m-%d %H")
    assert "2017-07-01 11-AM" in caught.value.message
