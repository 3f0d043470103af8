"""The object-storage bar store against a moto S3 server on loopback: a crash between object
writes leaves the old data, a second process's writer is serialized by the manifest's ETag, a
missing bucket is a clear StorageUnavailable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from arbx.adapters.objectstore.bar_store import ObjectStoreBarStore
from arbx.domain.errors import Conflict, StorageUnavailable
from arbx.domain.market import SeriesKey, TimeSpan
from tests.builders import make_bars
from tests.support.objectstore import s3_store

KEY = SeriesKey.of("kraken", "BTC/USDC", "1h")
ALL = TimeSpan(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
START = datetime(2024, 1, 20, tzinfo=UTC)


async def test_a_crash_between_object_writes_leaves_the_old_data(
    s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ObjectStoreBarStore(s3_store(s3_endpoint, s3_bucket))
    old = make_bars(24 * 40, start=START, timeframe="1h")  # January and February
    await store.write(KEY, old)
    new = old.with_columns(pl.col("volume") + 1.0)
    real_put = ObjectStoreBarStore._put
    calls = 0

    async def dying_put(
        self: ObjectStoreBarStore, path: str, data: bytes, mode: Any = "create"
    ) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the second month's object: the process "dies" here
            raise KeyboardInterrupt
        await real_put(self, path, data, mode)

    monkeypatch.setattr(ObjectStoreBarStore, "_put", dying_put)
    with pytest.raises(KeyboardInterrupt):
        await store.write(KEY, new)
    monkeypatch.setattr(ObjectStoreBarStore, "_put", real_put)
    fresh = ObjectStoreBarStore(s3_store(s3_endpoint, s3_bucket))  # another process
    assert (await fresh.read(KEY, ALL)).equals(old)
    assert await fresh.write(KEY, new) == new.height
    assert (await fresh.read(KEY, ALL)).equals(new)


async def test_a_writer_in_another_process_is_serialized_by_the_manifest(
    s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = ObjectStoreBarStore(s3_store(s3_endpoint, s3_bucket))
    theirs = ObjectStoreBarStore(s3_store(s3_endpoint, s3_bucket))
    first = make_bars(10, start=START, timeframe="1h")
    await ours.write(KEY, first)
    real_switch = ObjectStoreBarStore._switch

    async def late_switch(self: ObjectStoreBarStore, *args: Any) -> None:
        if self is ours:  # the other process switches the manifest first
            await theirs.write(
                KEY, make_bars(5, start=datetime(2024, 3, 1, tzinfo=UTC), timeframe="1h")
            )
        await real_switch(self, *args)

    monkeypatch.setattr(ObjectStoreBarStore, "_switch", late_switch)
    with pytest.raises(Conflict, match="another writer changed"):
        await ours.write(KEY, first.with_columns(pl.col("volume") + 1.0))
    monkeypatch.setattr(ObjectStoreBarStore, "_switch", real_switch)
    stored = await ours.read(KEY, ALL)
    assert stored.height == 15
    assert stored.head(10).equals(first)  # our failed write changed nothing


async def test_a_missing_bucket_is_a_clear_error(s3_endpoint: str, s3_bucket: str) -> None:
    missing = ObjectStoreBarStore(s3_store(s3_endpoint, "no-such-bucket-arbx"))
    with pytest.raises(StorageUnavailable, match="bucket does not exist"):
        await missing.ping()
    with pytest.raises(StorageUnavailable, match="bucket does not exist"):
        await missing.write(KEY, make_bars(3, start=START, timeframe="1h"))
    with pytest.raises(StorageUnavailable, match="bucket does not exist"):
        await missing.list_series()
    assert (await ObjectStoreBarStore(s3_store(s3_endpoint, s3_bucket)).list_series()) == []


async def test_a_short_span_reads_only_its_row_groups(s3_endpoint: str, s3_bucket: str) -> None:
    """Pushdown by range reads: a day of a two-month 1m series downloads a small part of its
    month's object (the footer and one row group), counted by a proxy in front of S3."""
    from tests.support.counting_proxy import counting_proxy

    key = SeriesKey.of("kraken", "BTC/USDC", "1m")
    bars = make_bars(60 * 24 * 60, start=datetime(2024, 1, 1, tzinfo=UTC), timeframe="1m")
    with counting_proxy(s3_endpoint) as proxy:
        store = ObjectStoreBarStore(s3_store(proxy.url, s3_bucket), prefix="lazy")
        await store.write(key, bars)
        proxy.reset()
        whole = await store.read(key, ALL)
        whole_bytes = proxy.bytes_read
        day = TimeSpan(datetime(2024, 1, 10, tzinfo=UTC), datetime(2024, 1, 11, tzinfo=UTC))
        proxy.reset()
        one_day = await store.read(key, day)
        day_bytes = proxy.bytes_read
    assert whole.equals(bars)
    assert one_day.equals(bars.filter((pl.col("ts") >= day.start) & (pl.col("ts") < day.end)))
    assert one_day.height == 1440
    # the whole series is two month objects; a day is one row group of one, plus its footer
    # (polars reads the object's last 256 KiB for that), far less than the month object
    month_bytes = whole_bytes / 2
    assert day_bytes < month_bytes / 4, (day_bytes, whole_bytes)
