"""ParquetBarStore specifics the contract suite cannot see: layout, pruning, errors, recovery."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.adapters.parquet.layout import Month, SeriesLayout, split_by_month
from arbx.adapters.parquet.transaction import Transaction
from arbx.domain.errors import StorageError, StorageUnavailable
from arbx.domain.market import BAR_SCHEMA, SeriesKey, Timeframe, TimeSpan, from_ms
from tests.builders import make_bars
from tests.strategies import bar_series
from tests.support.parquet import cached_store

KEY = SeriesKey.of("binance", "BTC/USDC", "1h")
EVERYTHING = TimeSpan.everything()
JAN_TO_MAR = make_bars(24 * 70, start=datetime(2024, 1, 1, tzinfo=UTC), timeframe="1h")


def month_file(root: Path, year: int, month: int) -> Path:
    return SeriesLayout(root, KEY).file(Month(year, month))


async def test_the_dataset_is_hive_partitioned_by_series_and_month(tmp_path: Path) -> None:
    await cached_store(tmp_path).write(KEY, JAN_TO_MAR)

    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))

    assert files == [
        f"ohlcv/exchange=binance/symbol=BTC-USDC/timeframe=1h/year=2024/month={m:02d}/bars.parquet"
        for m in (1, 2, 3)
    ]


async def test_other_tools_can_scan_the_dataset_with_hive_columns(tmp_path: Path) -> None:
    store = cached_store(tmp_path)
    await store.write(KEY, JAN_TO_MAR)
    await store.write(SeriesKey.of("kraken", "ETH/USDC", "1h"), JAN_TO_MAR.head(10))

    scan = pl.scan_parquet(tmp_path / "ohlcv" / "**" / "*.parquet", hive_partitioning=True)
    btc = scan.filter(pl.col("exchange") == "binance", pl.col("month") == 2).collect()

    assert btc.height == 29 * 24
    assert set(btc["symbol"]) == {"BTC-USDC"}
    # The store itself returns the canonical frame, without the hive columns.
    assert (await store.read(KEY, EVERYTHING)).schema == pl.Schema(BAR_SCHEMA)


async def test_a_read_opens_only_the_months_it_needs(tmp_path: Path) -> None:
    store = cached_store(tmp_path)
    await store.write(KEY, JAN_TO_MAR)
    month_file(tmp_path, 2024, 3).write_bytes(b"not parquet")  # March is broken

    january = TimeSpan(datetime(2024, 1, 5, tzinfo=UTC), datetime(2024, 1, 6, tzinfo=UTC))
    assert (await store.read(KEY, january)).height == 24
    with pytest.raises(StorageError, match="unreadable"):
        await store.read(KEY, EVERYTHING)


async def test_deleting_a_whole_month_removes_its_file(tmp_path: Path) -> None:
    store = cached_store(tmp_path)
    await store.write(KEY, JAN_TO_MAR)

    february = TimeSpan(datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))
    assert await store.delete(KEY, february) == 29 * 24

    assert not month_file(tmp_path, 2024, 2).exists()
    assert not month_file(tmp_path, 2024, 2).parent.exists()
    assert month_file(tmp_path, 2024, 1).exists()


async def test_deleting_a_whole_series_leaves_no_empty_folders(tmp_path: Path) -> None:
    store = cached_store(tmp_path)
    await store.write(KEY, JAN_TO_MAR)
    await store.write(SeriesKey.of("binance", "ETH/USDC", "1h"), JAN_TO_MAR.head(5))

    await store.delete(KEY, EVERYTHING)

    assert not SeriesLayout(tmp_path, KEY).series_dir.parent.exists()  # symbol=BTC-USDC
    assert (tmp_path / "ohlcv" / "exchange=binance" / "symbol=ETH-USDC").is_dir()
    assert [info.key.symbol.base for info in await store.list_series()] == ["ETH"]


async def test_an_unchanged_write_rewrites_no_file(tmp_path: Path) -> None:
    store = cached_store(tmp_path)
    await store.write(KEY, JAN_TO_MAR)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet")}

    assert await store.write(KEY, JAN_TO_MAR.slice(10, 2000)) == 0
    changed = JAN_TO_MAR.slice(30 * 24, 3).with_columns(pl.col("volume") + 1)  # in January
    assert await store.write(KEY, changed) == 3

    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet")}
    rewritten = {p.parent.name for p in after if after[p] != stamps[p]}
    assert rewritten == {"month=01"}


async def test_ping_creates_a_missing_root_and_refuses_an_unusable_one(tmp_path: Path) -> None:
    await cached_store(tmp_path / "new" / "root").ping()
    assert (tmp_path / "new" / "root").is_dir()

    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(StorageUnavailable, match="not usable"):
        await cached_store(blocker).ping()
    with pytest.raises(StorageUnavailable):
        await cached_store(blocker / "below").write(KEY, JAN_TO_MAR.head(3))


async def test_a_restart_rolls_a_committed_journal_forward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = cached_store(tmp_path)
    await store.write(KEY, JAN_TO_MAR)
    layout = SeriesLayout(tmp_path, KEY)
    # A dead process staged two months and wrote its commit record, then died.
    new_jan = JAN_TO_MAR.filter(pl.col("ts").dt.month() == 1).with_columns(pl.col("volume") * 3)
    new_feb = JAN_TO_MAR.filter(pl.col("ts").dt.month() == 2).with_columns(pl.col("volume") * 3)
    tx = Transaction(layout)
    tx.stage(layout.file(Month(2024, 1)), new_jan)
    tx.stage(layout.file(Month(2024, 2)), new_feb)
    _commit_without_applying(tx, monkeypatch)
    assert layout.journal.exists()

    got = await cached_store(tmp_path).read(KEY, EVERYTHING)

    assert got.equals(
        pl.concat([new_jan, new_feb, JAN_TO_MAR.filter(pl.col("ts").dt.month() == 3)])
    )
    assert not layout.journal.exists()
    assert not list(layout.temp_files())


async def test_a_restart_drops_files_staged_before_the_commit_point(tmp_path: Path) -> None:
    store = cached_store(tmp_path)
    await store.write(KEY, JAN_TO_MAR)
    layout = SeriesLayout(tmp_path, KEY)
    tx = Transaction(layout)
    tx.stage(layout.file(Month(2024, 1)), JAN_TO_MAR.head(5).with_columns(pl.col("volume") * 3))
    assert list(layout.temp_files())

    restarted = cached_store(tmp_path)
    assert (await restarted.read(KEY, EVERYTHING)).equals(JAN_TO_MAR)
    assert not list(layout.temp_files())


async def test_an_unreadable_commit_record_stops_the_store(tmp_path: Path) -> None:
    layout = SeriesLayout(tmp_path, KEY)
    layout.journal.parent.mkdir(parents=True)
    layout.journal.write_text("{not json")

    with pytest.raises(StorageError, match="commit record"):
        await cached_store(tmp_path).list_series()


async def test_foreign_folders_in_the_dataset_are_ignored(tmp_path: Path) -> None:
    store = cached_store(tmp_path)
    await store.write(KEY, JAN_TO_MAR.head(5))
    (tmp_path / "ohlcv" / "exchange=Not Valid!" / "symbol=X" / "timeframe=1h").mkdir(parents=True)
    (tmp_path / "ohlcv" / "notes").mkdir()

    assert [info.key for info in await store.list_series()] == [KEY]


async def test_a_file_with_a_foreign_schema_is_a_storage_error(tmp_path: Path) -> None:
    target = month_file(tmp_path, 2024, 1)
    target.parent.mkdir(parents=True)
    pl.DataFrame({"ts": [1], "price": [1.0]}).write_parquet(target)

    with pytest.raises(StorageError, match="canonical schema"):
        await cached_store(tmp_path).read(KEY, EVERYTHING)


async def test_list_series_sorts_timeframes_by_width(tmp_path: Path) -> None:
    store = cached_store(tmp_path)
    for timeframe in ("1d", "1m", "1h"):
        key = SeriesKey.of("binance", "BTC/USDC", timeframe)
        await store.write(key, make_bars(3, timeframe=timeframe))

    infos = await store.list_series()

    assert [str(i.key.timeframe) for i in infos] == ["1m", "1h", "1d"]


async def test_a_cancelled_write_still_leaves_the_old_or_the_new_data(tmp_path: Path) -> None:
    store = cached_store(tmp_path)
    big = make_bars(24 * 800, start=datetime(2022, 1, 1, tzinfo=UTC), timeframe="1h")

    task = asyncio.create_task(store.write(KEY, big))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    got = await store.read(KEY, EVERYTHING)
    assert got.is_empty() or got.equals(big)
    assert await store.write(KEY, big) == big.height - got.height
    assert (await store.read(KEY, EVERYTHING)).equals(big)


def test_months_step_over_year_ends() -> None:
    december = Month(2023, 12)

    assert december.next == Month(2024, 1)
    assert from_ms(december.start_ms) == datetime(2023, 12, 1, tzinfo=UTC)
    assert from_ms(december.end_ms) == datetime(2024, 1, 1, tzinfo=UTC)
    assert Month.of_ms(december.end_ms - 1) == december
    assert december.within(TimeSpan.of(datetime(2023, 12, 1), datetime(2024, 1, 1)))
    assert not december.within(TimeSpan.of(datetime(2023, 12, 1), datetime(2023, 12, 31)))


@settings(max_examples=40, deadline=None)
@given(
    bars=st.sampled_from([Timeframe.H1, Timeframe.H4, Timeframe.D1]).flatmap(
        lambda tf: bar_series(timeframe=tf, max_size=200)
    )
)
def test_split_by_month_cuts_a_frame_into_whole_months(bars: pl.DataFrame) -> None:
    parts = split_by_month(bars)

    assert pl.concat([chunk for _, chunk in parts]).equals(bars)
    months = [month for month, _ in parts]
    assert months == sorted(set(months))
    for month, chunk in parts:
        ms = chunk["ts"].dt.epoch("ms").to_list()
        assert month.start_ms <= ms[0]
        assert ms[-1] < month.end_ms


class _Died(Exception):
    pass


def _commit_without_applying(tx: Transaction, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``Transaction.commit`` up to its commit point (the journal's rename), then 'die'."""
    real_replace = os.replace
    calls = 0

    def replace_once(src: str | Path, dst: str | Path) -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise _Died
        real_replace(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", replace_once)
        with pytest.raises(_Died):
            tx.commit()
