"""ParquetBarStore's read cache never serves data the disk no longer holds.

A second store on the same folder stands for another process (the CLI importing while
``arbx serve`` runs): each instance has its own cache, so what one writes the other must see
on its next read. A reference store without a cache tells what the disk holds.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbx.adapters.parquet import ParquetBarStore
from arbx.adapters.parquet import tokens as tokens_module
from arbx.adapters.parquet.cache import FileStamp, PartitionCache, read_cache
from arbx.adapters.parquet.layout import Month, SeriesLayout
from arbx.domain.errors import InvalidInput, StorageError
from arbx.domain.market import SeriesKey, TimeSpan
from tests.builders import make_bars
from tests.support.parquet import cached_store

KEY = SeriesKey.of("binance", "BTC/USDC", "1h")
OTHER = SeriesKey.of("kraken", "BTC/USDC", "1h")
EVERYTHING = TimeSpan.everything()
JAN_TO_MAR = make_bars(24 * 70, start=datetime(2024, 1, 1, tzinfo=UTC), timeframe="1h")
FEB = TimeSpan(datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))


def at(day: int, month: int = 1) -> datetime:
    return datetime(2024, month, day, tzinfo=UTC)


def changed(bars: pl.DataFrame, by: float = 1.0) -> pl.DataFrame:
    return bars.with_columns(pl.col("volume") + by)


async def on_disk(root: Path, key: SeriesKey = KEY, span: TimeSpan = EVERYTHING) -> pl.DataFrame:
    return await ParquetBarStore(root, cache=read_cache(0)).read(key, span)


async def warm(store: ParquetBarStore) -> None:
    """Fill the cache: bars, listing and coverage."""
    await store.read(KEY, EVERYTHING)
    await store.list_series()
    await store.coverage(KEY)


# -- served from memory -----------------------------------------------------------------------


async def test_repeated_reads_are_served_without_decoding_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = cached_store(tmp_path)
    await store.write(KEY, JAN_TO_MAR)
    await warm(store)
    infos, spans = await store.list_series(), await store.coverage(KEY)

    with monkeypatch.context() as patch:
        patch.setattr(pl, "read_parquet", _refuse)
        patch.setattr(pl, "scan_parquet", _refuse)
        assert (await store.read(KEY, EVERYTHING)).equals(JAN_TO_MAR)
        assert (await store.read(KEY, FEB)).equals(JAN_TO_MAR.filter(_inside(FEB)))
        assert (await store.read(KEY, TimeSpan(at(5), at(6)))).height == 24
        assert (await store.read(KEY, TimeSpan(at(1, 6), at(2, 6)))).is_empty()
        assert await store.list_series() == infos
        assert await store.coverage(KEY) == spans


async def test_a_written_partition_is_cached_by_the_write_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = cached_store(tmp_path)
    await store.write(KEY, JAN_TO_MAR)

    with monkeypatch.context() as patch:
        patch.setattr(pl, "read_parquet", _refuse)
        patch.setattr(pl, "scan_parquet", _refuse)
        assert (await store.read(KEY, EVERYTHING)).equals(JAN_TO_MAR)


async def test_changing_a_returned_frame_in_place_does_not_change_the_cache(
    tmp_path: Path,
) -> None:
    store = cached_store(tmp_path)
    await store.write(KEY, JAN_TO_MAR)
    for span in (EVERYTHING, FEB):
        got = await store.read(KEY, span)
        got.insert_column(0, pl.Series("extra", [1] * got.height))
        got.drop_in_place("close")

    assert (await store.read(KEY, EVERYTHING)).equals(JAN_TO_MAR)


# -- another process changes the data ---------------------------------------------------------


async def test_a_write_by_another_instance_is_seen_on_the_next_read(tmp_path: Path) -> None:
    server, cli = cached_store(tmp_path), cached_store(tmp_path)
    await server.write(KEY, JAN_TO_MAR)
    await warm(server)

    update = changed(JAN_TO_MAR.slice(700, 100))  # late January into February
    assert await cli.write(KEY, update) == 100

    expected = pl.concat([JAN_TO_MAR.head(700), update, JAN_TO_MAR.slice(800)])
    assert (await server.read(KEY, EVERYTHING)).equals(expected)
    assert (await server.read(KEY, FEB)).equals(expected.filter(_inside(FEB)))


async def test_new_months_and_series_by_another_instance_are_listed(tmp_path: Path) -> None:
    server, cli = cached_store(tmp_path), cached_store(tmp_path)
    await server.write(KEY, JAN_TO_MAR.head(24 * 10))
    await warm(server)
    before = await server.list_series()

    await cli.write(KEY, JAN_TO_MAR.slice(24 * 10))  # the rest of January, February, March
    await cli.write(OTHER, JAN_TO_MAR.head(5))

    assert (await server.read(KEY, EVERYTHING)).equals(JAN_TO_MAR)
    infos = {info.key: info for info in await server.list_series()}
    assert infos[KEY].rows == JAN_TO_MAR.height != before[0].rows
    assert infos[OTHER].rows == 5
    assert await server.coverage(KEY) == [
        TimeSpan(JAN_TO_MAR["ts"][0], JAN_TO_MAR["ts"][-1] + timedelta(hours=1))
    ]


async def test_a_month_added_by_another_instance_is_seen_though_no_cached_file_changed(
    tmp_path: Path,
) -> None:
    server, cli = cached_store(tmp_path), cached_store(tmp_path)
    january = JAN_TO_MAR.filter(pl.col("ts") < at(1, 2))
    march = JAN_TO_MAR.filter(pl.col("ts") >= at(1, 3))
    await server.write(KEY, january)
    await warm(server)

    await cli.write(KEY, march)

    assert (await server.read(KEY, EVERYTHING)).equals(pl.concat([january, march]))
    assert (await server.list_series())[0].rows == january.height + march.height
    assert len(await server.coverage(KEY)) == 2


async def test_a_delete_by_another_instance_is_seen(tmp_path: Path) -> None:
    server, cli = cached_store(tmp_path), cached_store(tmp_path)
    await server.write(KEY, JAN_TO_MAR)
    await warm(server)

    assert await cli.delete(KEY, TimeSpan(at(20), at(5, 3))) > 0
    assert (await server.read(KEY, EVERYTHING)).equals(await on_disk(tmp_path))
    assert (await server.read(KEY, FEB)).is_empty()

    await cli.delete(KEY, EVERYTHING)
    assert (await server.read(KEY, EVERYTHING)).is_empty()
    assert await server.list_series() == []
    assert await server.coverage(KEY) == []


async def test_a_file_replaced_behind_the_stores_back_is_not_served_from_memory(
    tmp_path: Path,
) -> None:
    store = cached_store(tmp_path)
    await store.write(KEY, JAN_TO_MAR)
    await warm(store)
    feb_file = SeriesLayout(tmp_path, KEY).file(Month(2024, 2))
    feb = JAN_TO_MAR.filter(_inside(FEB))

    changed(feb, 5.0).write_parquet(feb_file)  # in place: no generation token changes

    assert (await store.read(KEY, FEB)).equals(changed(feb, 5.0))


async def test_a_data_folder_deleted_and_made_again_is_noticed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens_module, "REOPEN_S", 0.0)
    server = cached_store(tmp_path)
    await server.write(KEY, JAN_TO_MAR)
    await warm(server)

    shutil.rmtree(tmp_path)
    replacement = make_bars(48, start=at(1, 6), timeframe="1h", seed=3)
    await cached_store(tmp_path).write(KEY, replacement)

    assert (await server.read(KEY, EVERYTHING)).equals(replacement)
    assert (await server.read(KEY, TimeSpan(at(1, 6), at(2, 6)))).height == 24
    assert [i.rows for i in await server.list_series()] == [48]


async def test_a_dataset_written_before_tokens_existed_is_cached_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await cached_store(tmp_path).write(KEY, JAN_TO_MAR)
    layout = SeriesLayout(tmp_path, KEY)
    layout.lock_file.unlink()
    layout.lock_file.touch()  # an empty lock file, as older versions left them
    layout.catalog_token.unlink()
    store = cached_store(tmp_path)
    await warm(store)

    with monkeypatch.context() as patch:
        patch.setattr(pl, "read_parquet", _refuse)
        patch.setattr(pl, "scan_parquet", _refuse)
        assert (await store.read(KEY, EVERYTHING)).equals(JAN_TO_MAR)
        assert [i.rows for i in await store.list_series()] == [JAN_TO_MAR.height]


# -- failures ---------------------------------------------------------------------------------


class FailingReplace:
    """``os.replace`` fails from its ``after``-th call on, as if the process died there."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, after: int) -> None:
        self.calls = 0
        real = os.replace

        def replace(*args: Any, **kwargs: Any) -> None:
            self.calls += 1
            if self.calls > after:
                raise OSError("simulated crash")
            real(*args, **kwargs)

        monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("after", [0, 1, 2, 3, 4])
async def test_a_failed_write_leaves_the_cache_consistent_with_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: int
) -> None:
    """A three-month upsert: 0 fails before the commit point, 1 right after the journal is
    in place, 2 and 3 half way through applying it, 4 never."""
    store = cached_store(tmp_path, workers=1)
    await store.write(KEY, JAN_TO_MAR)
    await store.write(OTHER, JAN_TO_MAR)
    await warm(store)
    update = changed(JAN_TO_MAR.slice(24 * 20, 24 * 45))  # Jan 21 .. Mar 6

    with monkeypatch.context() as patch:
        FailingReplace(patch, after)
        try:
            await store.write(KEY, update)
        except StorageError:
            assert after < 4

    got = await store.read(KEY, EVERYTHING)
    assert got.equals(await on_disk(tmp_path))
    assert got.equals(JAN_TO_MAR) or got.equals(
        pl.concat([JAN_TO_MAR.head(24 * 20), update, JAN_TO_MAR.slice(24 * 65)])
    )
    assert (await store.read(KEY, FEB)).equals(got.filter(_inside(FEB)))
    assert [i.rows for i in await store.list_series()] == [got.height, JAN_TO_MAR.height]


async def test_a_write_that_another_process_left_half_applied_is_finished_then_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, crashed = cached_store(tmp_path), cached_store(tmp_path, workers=1)
    await server.write(KEY, JAN_TO_MAR)
    await warm(server)
    update = changed(JAN_TO_MAR.slice(24 * 20, 24 * 45))

    with monkeypatch.context() as patch:
        FailingReplace(patch, after=2)  # journal in place, one of three months applied
        with pytest.raises(StorageError):
            await crashed.write(KEY, update)

    expected = pl.concat([JAN_TO_MAR.head(24 * 20), update, JAN_TO_MAR.slice(24 * 65)])
    assert (await server.read(KEY, EVERYTHING)).equals(expected)
    assert (await server.list_series())[0].rows == expected.height


# -- the bound --------------------------------------------------------------------------------


async def test_the_cache_stays_within_its_byte_budget(tmp_path: Path) -> None:
    one_month = JAN_TO_MAR.filter(_inside(FEB))
    budget = int(one_month.estimated_size() * 2.5)
    store = ParquetBarStore(tmp_path, cache=read_cache(budget))
    await store.write(KEY, JAN_TO_MAR)
    await store.write(OTHER, JAN_TO_MAR)

    for key in (KEY, OTHER, KEY):
        assert (await store.read(key, EVERYTHING)).equals(JAN_TO_MAR)
        cache = store.cache
        assert cache is not None
        assert 0 < cache.nbytes <= budget
        assert len(cache) == 2


async def test_months_decoded_together_are_counted_at_their_own_size(tmp_path: Path) -> None:
    await cached_store(tmp_path).write(KEY, JAN_TO_MAR)
    store = cached_store(tmp_path)  # a cold cache: one scan decodes the three months

    assert (await store.read(KEY, EVERYTHING)).equals(JAN_TO_MAR)

    cache = store.cache
    assert cache is not None
    assert len(cache) == 3
    months = JAN_TO_MAR.group_by(pl.col("ts").dt.month(), maintain_order=True)
    frames_and_ts = sum(m.estimated_size() + m.height * 8 for _, m in months)
    assert cache.nbytes == frames_and_ts


async def test_months_cached_by_a_write_do_not_hold_on_to_the_written_frame(
    tmp_path: Path,
) -> None:
    store = cached_store(tmp_path)
    incoming = JAN_TO_MAR.rechunk()
    await store.write(KEY, incoming)

    cache, layout = store.cache, SeriesLayout(tmp_path, KEY)
    assert cache is not None
    written = incoming.get_column("open").to_numpy()
    for month in (Month(2024, 1), Month(2024, 2), Month(2024, 3)):
        path = layout.file(month)
        stamp = FileStamp.of(path)
        assert stamp is not None
        cached = cache.get(path, stamp)
        assert cached is not None
        assert not np.shares_memory(cached.frame.get_column("open").to_numpy(), written)


async def test_a_tiny_cache_still_reads_correctly(tmp_path: Path) -> None:
    store = ParquetBarStore(tmp_path, cache=read_cache(1))
    await store.write(KEY, JAN_TO_MAR)

    assert (await store.read(KEY, FEB)).equals(JAN_TO_MAR.filter(_inside(FEB)))
    assert (await store.read(KEY, EVERYTHING)).equals(JAN_TO_MAR)
    assert store.cache is not None
    assert len(store.cache) == 0


def test_the_lru_evicts_the_least_recently_used_file(tmp_path: Path) -> None:
    frame = JAN_TO_MAR.head(100)
    cache = PartitionCache(max_bytes=int(frame.estimated_size() * 2.5))
    paths = [tmp_path / name for name in "abc"]
    for path in paths:
        path.write_bytes(b"x")
    stamps = [_stamp(p) for p in paths]
    cache.put(paths[0], stamps[0], frame)
    cache.put(paths[1], stamps[1], frame)
    assert cache.get(paths[0], stamps[0]) is not None  # a is now the most recently used

    cache.put(paths[2], stamps[2], frame)

    assert cache.get(paths[1], stamps[1]) is None
    assert cache.get(paths[0], stamps[0]) is not None
    assert cache.get(paths[2], stamps[2]) is not None
    assert cache.get(paths[2], stamps[0]) is None  # another version of the file


async def test_cache_bytes_zero_disables_the_cache_and_negative_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ParquetBarStore(tmp_path, cache=read_cache(0))
    await store.write(KEY, JAN_TO_MAR)
    await warm(store)
    assert (len(store.cache), store.cache.nbytes) == (0, 0)
    assert (await store.read(KEY, FEB)).equals(JAN_TO_MAR.filter(_inside(FEB)))
    # nothing was kept, not even a summary: every operation goes back to the files
    with monkeypatch.context() as patch:
        patch.setattr(pl, "read_parquet", _refuse)
        patch.setattr(pl, "scan_parquet", _refuse)
        for operation in (store.read(KEY, FEB), store.list_series(), store.coverage(KEY)):
            with pytest.raises(AssertionError):
                await operation

    with pytest.raises(InvalidInput) as raised:
        ParquetBarStore(tmp_path, cache=read_cache(-1))
    assert raised.value.field == "cache_bytes"


# -- an invariant -----------------------------------------------------------------------------

DAYS = 75


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[str, int, int, int]]:
    """(who, what, first day, days): who 0 = the cached store, 1 = the other process."""
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        first = draw(st.integers(0, DAYS - 1))
        days = draw(st.integers(1, DAYS - first))
        steps.append(
            (draw(st.sampled_from(["mine", "theirs"])), draw(st.integers(0, 2)), first, days)
        )
    return steps


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=operations())
async def test_whoever_changes_the_series_the_cached_store_reads_what_the_disk_holds(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int, int, int]]
) -> None:
    root = tmp_path_factory.mktemp("interleaved")
    mine, theirs = cached_store(root), cached_store(root)
    for n, (who, what, first, days) in enumerate(steps):
        store = mine if who == "mine" else theirs
        span = TimeSpan(at(1) + timedelta(days=first), at(1) + timedelta(days=first + days))
        if what == 2:
            await store.delete(KEY, span)
        else:
            bars = make_bars(days * 24, start=span.start, timeframe="1h", seed=n + what)
            await store.write(KEY, bars)
        for probe in (EVERYTHING, FEB, span):
            assert (await mine.read(KEY, probe)).equals(await on_disk(root, span=probe))
        truth = await on_disk(root)
        infos = await mine.list_series()
        assert [i.rows for i in infos] == ([truth.height] if truth.height else [])
    shutil.rmtree(root)


def _inside(span: TimeSpan) -> pl.Expr:
    return (pl.col("ts") >= span.start) & (pl.col("ts") < span.end)


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a Parquet file was read")


def _stamp(path: Path) -> FileStamp:
    stamp = FileStamp.of(path)
    assert stamp is not None
    return stamp
