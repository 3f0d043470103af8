"""The BookStore contract, written once and run against every adapter (memory, parquet,
postgres on the plain path, and objectstore: a bucket on the test's moto S3 server)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.memory.book_store import MemoryBookStore
from arbx.adapters.objectstore.book_store import ObjectStoreBookStore
from arbx.adapters.objectstore.day_objects import DayObjects
from arbx.adapters.parquet.book_store import ParquetBookStore
from arbx.adapters.postgres.book_store import PostgresBookStore
from arbx.domain.errors import Conflict, InvalidInput, StorageUnavailable
from arbx.domain.market import Symbol, TimeSpan
from arbx.domain.market.books import (
    BOOK_SCHEMA,
    QUOTE_SCHEMA,
    Quote,
    book_frame,
    book_updates,
    quotes_frame,
)
from arbx.domain.market.trades import TradeKey
from arbx.domain.orderbook.book import BookDiff, BookSnapshot, L2Book
from arbx.ports.book_store import BookStore
from tests.support.objectstore import IamUser, s3_store
from tests.support.postgres import PostgresTestDatabase

ADAPTERS = ["memory", "parquet", "postgres", "objectstore"]
KEY = TradeKey("binance", Symbol("BTC", "USDC"))
OTHER = TradeKey("kraken", Symbol("BTC", "USD"))
T0 = datetime(2023, 3, 10, 23, 59, tzinfo=UTC)
T0_US = int(T0.timestamp() * 1_000_000)
EVERYTHING = TimeSpan.everything()
_venues = itertools.count()


@pytest.fixture
async def postgres_book_store(
    postgres_database: PostgresTestDatabase, postgres_pool: AsyncConnectionPool
) -> PostgresBookStore:
    """A PostgresBookStore on empty stream tables of this run's schema (plain path)."""
    async with postgres_pool.connection() as conn:
        await conn.execute(
            sql.SQL("TRUNCATE {}, {}").format(
                sql.Identifier(postgres_database.schema, "quotes"),
                sql.Identifier(postgres_database.schema, "book_updates"),
            )
        )
    return PostgresBookStore(postgres_pool, postgres_database.schema)


@pytest.fixture
def memory_book_store() -> BookStore:
    return MemoryBookStore()


@pytest.fixture
def parquet_book_store(tmp_path: Path) -> BookStore:
    return ParquetBookStore(tmp_path)


@pytest.fixture
def objectstore_book_store(s3_endpoint: str, s3_bucket: str) -> BookStore:
    return ObjectStoreBookStore(s3_store(s3_endpoint, s3_bucket), prefix="desk/arbx")


@pytest.fixture(params=ADAPTERS)
def store(request: pytest.FixtureRequest) -> BookStore:
    chosen: BookStore = request.getfixturevalue(f"{request.param}_book_store")
    return chosen


def quote(n: int, *, key: TradeKey = KEY, bid: float = 20_000.0) -> Quote:
    # 7 s apart from one minute before midnight: crosses a day boundary
    return Quote(key, T0_US + n * 7_000_000, bid + n, 0.5 + n, bid + n + 1.0, 1.0)


def updates(instrument: str = "BTCUSDC") -> list[BookSnapshot | BookDiff]:
    snap = BookSnapshot(instrument, 100, [(99.0, 1.0), (98.0, 2.0)], [(101.0, 1.5), (102.0, 3.0)])
    return [
        snap,
        BookDiff(instrument, 103, [(99.0, 0.0), (99.5, 4.0)], [], first_sequence=101),
        BookDiff(instrument, 104, [], [(100.5, 0.2)]),
    ]


def book_rows(n_updates: int = 3) -> pl.DataFrame:
    chosen = updates()[:n_updates]
    return book_frame(chosen, ts_us=[T0_US + i * 30_000_000 for i in range(len(chosen))])


async def test_quotes_read_back_sorted_across_days(store: BookStore) -> None:
    quotes = [quote(n) for n in (5, 1, 9, 3)]  # crosses midnight
    assert await store.write_quotes(KEY, quotes_frame(quotes)) == 4
    back = await store.read_quotes(KEY, EVERYTHING)
    assert back.schema == pl.Schema(QUOTE_SCHEMA)
    assert back["bid"].to_list() == [20_001.0, 20_003.0, 20_005.0, 20_009.0]
    assert await store.quote_keys() == [KEY]
    assert await store.book_keys() == []


async def test_writing_the_same_quotes_again_changes_nothing(store: BookStore) -> None:
    assert await store.write_quotes(KEY, quotes_frame([quote(n) for n in range(6)])) == 6
    replay = quotes_frame([quote(n) for n in range(3, 9)])
    assert await store.write_quotes(KEY, replay) == 3
    assert await store.write_quotes(KEY, replay) == 0
    assert (await store.read_quotes(KEY, EVERYTHING)).height == 9


async def test_reads_are_half_open_and_per_pair(store: BookStore) -> None:
    await store.write_quotes(KEY, quotes_frame([quote(n) for n in range(4)]))
    await store.write_quotes(OTHER, quotes_frame([quote(0, key=OTHER, bid=10.0)]))
    start = datetime.fromtimestamp((T0_US + 7_000_000) / 1e6, UTC)
    end = datetime.fromtimestamp((T0_US + 21_000_000) / 1e6, UTC)
    window = await store.read_quotes(KEY, TimeSpan(start, end))
    assert window["bid"].to_list() == [20_001.0, 20_002.0]
    assert (await store.read_quotes(OTHER, EVERYTHING))["bid"].to_list() == [10.0]
    assert await store.quote_keys() == [KEY, OTHER]


async def test_an_invalid_quote_or_book_row_stores_nothing(store: BookStore) -> None:
    good = quotes_frame([quote(1), quote(2)])
    crossed = good.with_columns(pl.col("ask") - 10.0)
    with pytest.raises(InvalidInput, match="not valid"):
        await store.write_quotes(KEY, crossed)
    with pytest.raises(InvalidInput, match="columns"):
        await store.write_quotes(KEY, good.drop("ask_qty"))
    rows = book_rows()
    bad = rows.with_columns(
        pl.when(pl.col("sequence") == 104)
        .then(pl.lit("mid"))
        .otherwise(pl.col("side"))
        .alias("side")
    )
    with pytest.raises(InvalidInput, match="not valid"):
        await store.write_book(KEY, bad)
    assert (await store.read_quotes(KEY, EVERYTHING)).is_empty()
    assert (await store.read_book(KEY, EVERYTHING)).is_empty()
    assert await store.quote_keys() == []
    assert await store.book_keys() == []


async def test_book_rows_round_trip_to_the_same_book(store: BookStore) -> None:
    assert await store.write_book(KEY, book_rows()) == 7
    back = await store.read_book(KEY, EVERYTHING)
    assert back.schema == pl.Schema(BOOK_SCHEMA)
    replayed = L2Book("BTCUSDC")
    for update in book_updates(back, "BTCUSDC"):
        if isinstance(update, BookSnapshot):
            replayed.apply_snapshot(update)
        else:
            assert replayed.apply_diff(update)
    assert replayed.sequence == 104
    assert replayed.depth(5) == (
        [(99.5, 4.0), (98.0, 2.0)],
        [(100.5, 0.2), (101.0, 1.5), (102.0, 3.0)],
    )
    assert await store.book_keys() == [KEY]


async def test_a_replayed_book_row_is_stored_once_even_at_another_time(store: BookStore) -> None:
    """A row's key is (kind, sequence, side, price): a venue's snapshot sent again after a
    reconnect, stamped later, is not stored twice."""
    assert await store.write_book(KEY, book_rows(1)) == 4
    again = book_rows(1).with_columns(pl.col("ts") + pl.duration(seconds=5))
    assert await store.write_book(KEY, again) == 0
    assert await store.write_book(KEY, book_rows()) == 3
    assert (await store.read_book(KEY, EVERYTHING)).height == 7


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(
        st.lists(st.integers(min_value=0, max_value=30), max_size=10), min_size=1, max_size=5
    ),
)
async def test_any_replay_of_batches_stores_each_row_once(
    store: BookStore, batches: list[list[int]]
) -> None:
    """However batches of quotes and book updates repeat and overlap, each row is stored once,
    in time order, and the write counts add up to what is stored."""
    key = TradeKey(f"venue{next(_venues)}", Symbol("BTC", "USDC"))
    written_quotes = written_rows = 0
    for batch in batches:
        written_quotes += await store.write_quotes(
            key, quotes_frame([quote(n, key=key) for n in batch])
        )
        diffs = [BookDiff("X", 1000 + n, [(50.0 + n, float(n))], [(200.0 - n, 1.0)]) for n in batch]
        written_rows += await store.write_book(
            key, book_frame(diffs, ts_us=[T0_US + n * 1_000_000 for n in batch])
        )
    seen = sorted({n for batch in batches for n in batch})
    quotes = await store.read_quotes(key, EVERYTHING)
    assert written_quotes == quotes.height == len(seen)
    assert quotes["bid"].to_list() == [20_000.0 + n for n in seen]
    rows = await store.read_book(key, EVERYTHING)
    assert written_rows == rows.height == 2 * len(seen)
    assert rows["sequence"].to_list() == [s for n in seen for s in (1000 + n, 1000 + n)]


# -- object storage only: what a bucket adds to the contract ------------------------------------


async def test_a_second_process_replacing_a_day_first_is_a_conflict(
    s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two stores (processes) on one prefix: the one whose read of a day object is stale when
    it writes fails with Conflict, for quotes and for book rows alike, and loses nothing
    already stored; the retry completes the write."""
    bucket = s3_store(s3_endpoint, s3_bucket)
    prefix = f"shared-{uuid.uuid4().hex[:8]}"
    ours, theirs = ObjectStoreBookStore(bucket, prefix), ObjectStoreBookStore(bucket, prefix)
    await ours.write_quotes(KEY, quotes_frame([quote(0)]))
    await ours.write_book(KEY, book_rows(1))
    real_get = DayObjects._get
    meanwhile: list[Any] = []

    async def stale_get(self: DayObjects, path: str) -> Any:
        found = await real_get(self, path)
        if meanwhile:  # the other process replaces the day right after our read
            await meanwhile.pop()()
        return found

    monkeypatch.setattr(DayObjects, "_get", stale_get)
    meanwhile.append(lambda: theirs.write_quotes(KEY, quotes_frame([quote(1)])))
    with pytest.raises(Conflict, match="another writer changed .*quotes/.* its quotes were"):
        await ours.write_quotes(KEY, quotes_frame([quote(2)]))
    meanwhile.append(lambda: theirs.write_book(KEY, book_rows(2)))
    with pytest.raises(Conflict, match="its book updates were not written"):
        await ours.write_book(KEY, book_rows(2))  # both add the diff 103 to the first day
    monkeypatch.setattr(DayObjects, "_get", real_get)
    assert (await ours.read_quotes(KEY, EVERYTHING))["bid"].to_list() == [20_000.0, 20_001.0]
    stored = (await ours.read_book(KEY, EVERYTHING))["sequence"]
    assert stored.to_list() == [100] * 4 + [103] * 2
    assert await ours.write_quotes(KEY, quotes_frame([quote(2)])) == 1
    assert await ours.write_book(KEY, book_rows()) == 1
    assert (await theirs.read_book(KEY, EVERYTHING)).height == 7


async def test_wrong_credentials_are_refused_clearly_and_write_nothing(
    s3_endpoint: str, s3_bucket: str, s3_checked_credentials: IamUser
) -> None:
    user, wrong_secret = s3_checked_credentials, "wrong-secret-0123456789abcdefWXYZ"
    refused = ObjectStoreBookStore(
        s3_store(
            s3_endpoint, s3_bucket, secret_access_key=wrong_secret, access_key_id=user.access_key_id
        ),
        prefix="desk",
    )
    attempts = [
        lambda: refused.write_quotes(KEY, quotes_frame([quote(0)])),
        lambda: refused.write_book(KEY, book_rows()),
        lambda: refused.read_quotes(KEY, EVERYTHING),
        refused.book_keys,
    ]
    for attempt in attempts:
        with pytest.raises(StorageUnavailable) as caught:
            await attempt()
        said = caught.value.message
        assert f"s3://{s3_bucket} at {s3_endpoint} refused the credentials" in said
        assert "SignatureDoesNotMatch" in said
        assert wrong_secret not in said
        assert user.secret_access_key not in said
    allowed = ObjectStoreBookStore(
        s3_store(
            s3_endpoint,
            s3_bucket,
            access_key_id=user.access_key_id,
            secret_access_key=user.secret_access_key,
        ),
        prefix="desk",
    )
    assert await allowed.quote_keys() == []
    assert await allowed.book_keys() == []
    assert await allowed.write_quotes(KEY, quotes_frame([quote(0)])) == 1
