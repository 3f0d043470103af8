"""The BarStore contract: every adapter (memory, parquet, postgres) must pass it unchanged.

Only the port's methods are used; a test never asks which adapter it has.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.market import BAR_SCHEMA, SeriesKey, Timeframe, TimeSpan, to_ms
from arbx.ports.bar_store import BarStore, SeriesInfo
from tests.builders import key as series
from tests.builders import make_bars

BTC = series("binance:BTC/USDC:1m")
ETH = series("binance:ETH/USDC:1m")
KRAKEN_BTC = series("kraken:BTC/USDC:1m")
EVERYTHING = TimeSpan.everything()
START = datetime(2024, 1, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)


def span(start_min: int, end_min: int) -> TimeSpan:
    return TimeSpan(at(start_min), at(end_min))


def assert_frames_equal(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert actual.schema == pl.Schema(BAR_SCHEMA)
    assert actual.equals(expected), f"\n{actual}\n!=\n{expected}"


# -- write and read ------------------------------------------------------------------------


async def test_written_bars_read_back_exactly(bar_store: BarStore) -> None:
    bars = make_bars(500)

    assert await bar_store.write(BTC, bars) == 500

    assert_frames_equal(await bar_store.read(BTC, EVERYTHING), bars)


async def test_writing_the_same_bars_again_changes_nothing(bar_store: BarStore) -> None:
    bars = make_bars(200)
    await bar_store.write(BTC, bars)

    assert await bar_store.write(BTC, bars) == 0
    assert_frames_equal(await bar_store.read(BTC, EVERYTHING), bars)


async def test_upsert_counts_changed_and_new_rows_and_the_new_values_win(
    bar_store: BarStore,
) -> None:
    bars = make_bars(100)
    await bar_store.write(BTC, bars)
    longer = pl.concat([bars, make_bars(3, start=at(100), seed=1)])
    changed = longer.with_columns(
        pl.when(pl.int_range(pl.len()).is_in([10, 20]))
        .then(pl.col("volume") + 1.0)
        .otherwise(pl.col("volume"))
        .alias("volume")
    )

    assert await bar_store.write(BTC, changed) == 5
    assert_frames_equal(await bar_store.read(BTC, EVERYTHING), changed)


async def test_a_partial_overlap_keeps_untouched_rows(bar_store: BarStore) -> None:
    bars = make_bars(100)
    await bar_store.write(BTC, bars)
    update = bars.slice(40, 10).with_columns(pl.col("volume") * 2 + 1)

    assert await bar_store.write(BTC, update) == 10

    expected = pl.concat([bars.slice(0, 40), update, bars.slice(50)])
    assert_frames_equal(await bar_store.read(BTC, EVERYTHING), expected)


async def test_batches_written_out_of_order_read_back_sorted(bar_store: BarStore) -> None:
    bars = make_bars(300)
    await bar_store.write(BTC, bars.slice(200))
    await bar_store.write(BTC, bars.slice(0, 100))
    await bar_store.write(BTC, bars.slice(100, 100))

    assert_frames_equal(await bar_store.read(BTC, EVERYTHING), bars)


async def test_read_returns_the_half_open_span(bar_store: BarStore) -> None:
    bars = make_bars(100)
    await bar_store.write(BTC, bars)

    got = await bar_store.read(BTC, span(10, 20))

    assert_frames_equal(got, bars.slice(10, 10))
    assert got["ts"][0] == at(10)
    assert got["ts"][-1] == at(19)


async def test_a_span_between_bars_reads_only_bars_that_open_inside(bar_store: BarStore) -> None:
    bars = make_bars(10)
    await bar_store.write(BTC, bars)

    got = await bar_store.read(BTC, TimeSpan(at(2) + timedelta(seconds=1), at(4)))

    assert got["ts"].to_list() == [at(3)]


async def test_empty_reads_return_an_empty_canonical_frame(bar_store: BarStore) -> None:
    assert_frames_equal(await bar_store.read(BTC, EVERYTHING), pl.DataFrame(schema=BAR_SCHEMA))
    await bar_store.write(BTC, make_bars(10))

    empty = await bar_store.read(BTC, span(60, 120))

    assert_frames_equal(empty, pl.DataFrame(schema=BAR_SCHEMA))


async def test_an_empty_write_stores_nothing(bar_store: BarStore) -> None:
    assert await bar_store.write(BTC, make_bars(1).clear()) == 0
    assert await bar_store.list_series() == []


async def test_bars_in_another_time_zone_or_unit_are_stored_canonically(
    bar_store: BarStore,
) -> None:
    bars = make_bars(30)
    foreign = bars.with_columns(
        pl.col("ts").dt.cast_time_unit("us").dt.convert_time_zone("America/New_York")
    )

    assert await bar_store.write(BTC, foreign) == 30
    assert_frames_equal(await bar_store.read(BTC, EVERYTHING), bars)


# -- invalid input changes nothing -------------------------------------------------------------


def _nan_close(bars: pl.DataFrame) -> pl.DataFrame:
    return bars.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(float("nan")).otherwise("close").alias("close")
    )


def _off_grid(bars: pl.DataFrame) -> pl.DataFrame:
    return bars.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.col("ts") + timedelta(seconds=30))
        .otherwise("ts")
        .alias("ts")
    )


def _negative_volume(bars: pl.DataFrame) -> pl.DataFrame:
    return bars.with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(-1.0).otherwise("volume").alias("volume")
    )


def _high_below_low(bars: pl.DataFrame) -> pl.DataFrame:
    return bars.with_columns(
        pl.when(pl.int_range(pl.len()) == 2)
        .then(pl.col("low") * 0.5)
        .otherwise("high")
        .alias("high")
    )


INVALID_FRAMES = {
    "nan price": (_nan_close, "close"),
    "off-grid ts": (_off_grid, "ts"),
    "unsorted": (lambda b: b.reverse(), "ts"),
    "duplicate ts": (lambda b: pl.concat([b.slice(0, 5), b.slice(4)]), "ts"),
    "missing column": (lambda b: b.drop("volume"), "volume"),
    "negative volume": (_negative_volume, "volume"),
    "high below low": (_high_below_low, "high"),
    "text prices": (lambda b: b.with_columns(pl.col("open").cast(pl.String)), "open"),
}


@pytest.mark.parametrize("case", list(INVALID_FRAMES), ids=list(INVALID_FRAMES))
async def test_an_invalid_frame_raises_and_changes_nothing(bar_store: BarStore, case: str) -> None:
    breaker, field = INVALID_FRAMES[case]
    stored = make_bars(50)
    await bar_store.write(BTC, stored)
    before = await bar_store.list_series()
    # Half of the batch overlaps stored rows with new values, half is new.
    batch = make_bars(50, start=at(25), seed=99)

    with pytest.raises(InvalidInput) as raised:
        await bar_store.write(BTC, breaker(batch))

    assert raised.value.field == field
    assert_frames_equal(await bar_store.read(BTC, EVERYTHING), stored)
    assert await bar_store.list_series() == before


async def test_bars_off_the_keys_timeframe_grid_are_refused(bar_store: BarStore) -> None:
    hourly = SeriesKey.of("binance", "BTC/USDC", "1h")

    with pytest.raises(InvalidInput) as raised:
        await bar_store.write(hourly, make_bars(5, start=at(1)))

    assert raised.value.field == "ts"
    assert await bar_store.list_series() == []


# -- list, coverage, delete -----------------------------------------------------------------------


async def test_an_empty_store_lists_no_series(bar_store: BarStore) -> None:
    assert await bar_store.list_series() == []


async def test_list_series_tells_first_and_last_bar_and_row_count(bar_store: BarStore) -> None:
    await bar_store.write(KRAKEN_BTC, make_bars(30, start=at(100)))
    await bar_store.write(BTC, make_bars(20))
    await bar_store.write(BTC, make_bars(5, start=at(1000)))
    await bar_store.write(ETH, make_bars(7, start=at(50), price=2000.0))

    assert await bar_store.list_series() == [
        SeriesInfo(BTC, at(0), at(1004), 25),
        SeriesInfo(ETH, at(50), at(56), 7),
        SeriesInfo(KRAKEN_BTC, at(100), at(129), 30),
    ]


async def test_coverage_lists_runs_of_consecutive_bars(bar_store: BarStore) -> None:
    bars = make_bars(100)
    await bar_store.write(BTC, pl.concat([bars.slice(0, 30), bars.slice(40, 10), bars.slice(90)]))

    assert await bar_store.coverage(BTC) == [span(0, 30), span(40, 50), span(90, 100)]


async def test_coverage_within_a_span_is_clipped_to_bars_inside_it(bar_store: BarStore) -> None:
    bars = make_bars(100)
    await bar_store.write(BTC, pl.concat([bars.slice(0, 30), bars.slice(40, 60)]))

    assert await bar_store.coverage(BTC, span(20, 45)) == [span(20, 30), span(40, 45)]
    assert await bar_store.coverage(BTC, span(30, 40)) == []


async def test_coverage_of_an_unknown_series_is_empty(bar_store: BarStore) -> None:
    assert await bar_store.coverage(BTC) == []


async def test_delete_removes_the_span_and_counts_it(bar_store: BarStore) -> None:
    bars = make_bars(100)
    await bar_store.write(BTC, bars)

    assert await bar_store.delete(BTC, span(10, 30)) == 20

    expected = pl.concat([bars.slice(0, 10), bars.slice(30)])
    assert_frames_equal(await bar_store.read(BTC, EVERYTHING), expected)
    assert await bar_store.coverage(BTC) == [span(0, 10), span(30, 100)]
    assert await bar_store.delete(BTC, span(10, 30)) == 0


async def test_deleting_everything_removes_the_series(bar_store: BarStore) -> None:
    await bar_store.write(BTC, make_bars(10))
    await bar_store.write(ETH, make_bars(10))

    assert await bar_store.delete(BTC, EVERYTHING) == 10

    assert [info.key for info in await bar_store.list_series()] == [ETH]
    assert (await bar_store.read(BTC, EVERYTHING)).is_empty()


async def test_deleting_from_an_unknown_series_removes_nothing(bar_store: BarStore) -> None:
    assert await bar_store.delete(BTC, EVERYTHING) == 0


async def test_a_deleted_span_can_be_written_again(bar_store: BarStore) -> None:
    bars = make_bars(50)
    await bar_store.write(BTC, bars)
    await bar_store.delete(BTC, span(0, 25))

    assert await bar_store.write(BTC, bars) == 25
    assert_frames_equal(await bar_store.read(BTC, EVERYTHING), bars)


# -- many months, many series, many writers ---------------------------------------------------------


async def test_bars_across_several_months_and_years(bar_store: BarStore) -> None:
    hourly = SeriesKey.of("binance", "BTC/USDC", "1h")
    bars = make_bars(24 * 100, start=datetime(2023, 11, 20, tzinfo=UTC), timeframe="1h")

    assert await bar_store.write(hourly, bars) == bars.height

    assert_frames_equal(await bar_store.read(hourly, EVERYTHING), bars)
    boundary = TimeSpan(datetime(2023, 12, 31, 22, tzinfo=UTC), datetime(2024, 1, 1, 2, tzinfo=UTC))
    got = await bar_store.read(hourly, boundary)
    assert got["ts"].to_list() == [boundary.start + timedelta(hours=h) for h in range(4)]
    # An update straddling two months counts and replaces rows in both.
    update = bars.filter(pl.col("ts").is_between(boundary.start, boundary.end, closed="left"))
    assert await bar_store.write(hourly, update.with_columns(pl.col("volume") + 1)) == 4
    assert await bar_store.delete(hourly, boundary) == 4
    assert await bar_store.coverage(hourly) == [
        TimeSpan(bars["ts"][0], boundary.start),
        TimeSpan(boundary.end, bars["ts"][-1] + timedelta(hours=1)),
    ]


async def test_daily_bars_over_years(bar_store: BarStore) -> None:
    daily = SeriesKey.of("coinbase", "ETH/USDC", "1d")
    bars = make_bars(800, start=datetime(2021, 6, 1, tzinfo=UTC), timeframe="1d")

    assert await bar_store.write(daily, bars) == 800

    assert_frames_equal(await bar_store.read(daily, EVERYTHING), bars)
    info = await bar_store.list_series()
    assert info == [SeriesInfo(daily, bars["ts"][0], bars["ts"][-1], 800)]


async def test_series_are_isolated(bar_store: BarStore) -> None:
    hourly = SeriesKey.of("binance", "BTC/USDC", "1h")
    btc, eth = make_bars(120), make_bars(120, price=2000.0, seed=3)
    await bar_store.write(BTC, btc)
    await bar_store.write(ETH, eth)
    await bar_store.write(KRAKEN_BTC, btc)
    await bar_store.write(hourly, make_bars(2, timeframe="1h"))

    await bar_store.delete(KRAKEN_BTC, EVERYTHING)
    assert await bar_store.write(ETH, eth.with_columns(pl.col("volume") + 1)) == 120

    assert_frames_equal(await bar_store.read(BTC, EVERYTHING), btc)
    assert (await bar_store.read(KRAKEN_BTC, EVERYTHING)).is_empty()
    assert (await bar_store.read(hourly, EVERYTHING)).height == 2
    assert await bar_store.coverage(BTC) == [span(0, 120)]


async def test_concurrent_writes_to_one_series_lose_nothing(bar_store: BarStore) -> None:
    bars = make_bars(60 * 24 * 3, start=datetime(2024, 1, 30, tzinfo=UTC))  # spans two months
    chunks = [bars.slice(offset, 500) for offset in range(0, bars.height, 250)]  # overlapping

    counts = await asyncio.gather(*(bar_store.write(BTC, chunk) for chunk in chunks))

    assert sum(counts) == bars.height
    assert_frames_equal(await bar_store.read(BTC, EVERYTHING), bars)


async def test_concurrent_writes_and_deletes_keep_each_series_whole(bar_store: BarStore) -> None:
    bars = make_bars(2000)
    await bar_store.write(BTC, bars)

    await asyncio.gather(
        bar_store.delete(BTC, span(0, 1000)),
        bar_store.write(ETH, bars),
        bar_store.read(BTC, EVERYTHING),
        bar_store.delete(BTC, span(1000, 1500)),
        bar_store.list_series(),
    )

    assert_frames_equal(await bar_store.read(BTC, EVERYTHING), bars.slice(1500))
    assert_frames_equal(await bar_store.read(ETH, EVERYTHING), bars)


async def test_ping_succeeds_on_a_usable_store(bar_store: BarStore) -> None:
    await bar_store.ping()


# -- property: write-then-read is an upsert merge ------------------------------------------------

_example_ids = itertools.count()


@st.composite
def write_batches(draw: st.DrawFn) -> tuple[Timeframe, list[pl.DataFrame]]:
    """A base series and 1-4 overlapping slices of it with rescaled prices (still valid bars)."""
    timeframe = draw(st.sampled_from([Timeframe.M1, Timeframe.H1, Timeframe.H4]))
    n = draw(st.integers(1, 400))
    first = datetime(2023, 12, 25, tzinfo=UTC) + draw(st.integers(0, 3000)) * timeframe.duration
    base = make_bars(n, start=first, timeframe=timeframe, seed=draw(st.integers(0, 1000)))
    batches = []
    for _ in range(draw(st.integers(1, 4))):
        lo = draw(st.integers(0, n - 1))
        hi = draw(st.integers(lo + 1, n))
        factor = draw(st.sampled_from([1.0, 1.0, 0.5, 2.0]))
        prices = [pl.col(c) * factor for c in ("open", "high", "low", "close")]
        batches.append(base.slice(lo, hi - lo).with_columns(prices))
    return timeframe, batches


def reference_upsert(batches: list[pl.DataFrame]) -> tuple[dict[int, tuple[float, ...]], list[int]]:
    """The expected store content (ts ms -> values) and each write's expected count."""
    state: dict[int, tuple[float, ...]] = {}
    counts = []
    for batch in batches:
        changed = 0
        for row in batch.iter_rows():
            ts, values = to_ms(row[0]), tuple(row[1:])
            if state.get(ts) != values:
                changed += 1
            state[ts] = values
        counts.append(changed)
    return state, counts


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=write_batches())
async def test_write_then_read_returns_the_rows_merged_by_ts(
    bar_store: BarStore, case: tuple[Timeframe, list[pl.DataFrame]]
) -> None:
    timeframe, batches = case
    key = SeriesKey.of(f"ex{next(_example_ids)}", "BTC/USDC", timeframe.value)
    expected, expected_counts = reference_upsert(batches)

    counts = [await bar_store.write(key, batch) for batch in batches]
    got = await bar_store.read(key, EVERYTHING)

    assert counts == expected_counts
    assert got.schema == pl.Schema(BAR_SCHEMA)
    assert [to_ms(ts) for ts in got["ts"]] == sorted(expected)
    assert {to_ms(r[0]): tuple(r[1:]) for r in got.iter_rows()} == expected
