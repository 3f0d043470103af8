"""PostgresBarStore beyond the shared contract: the binary COPY codec, row metadata on
upsert, large frames, and a schema that is wrong or not migrated."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
import psycopg
import pytest
from hypothesis import given, settings
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.bar_store import PostgresBarStore
from arbx.adapters.postgres.copy_binary import HEADER, TRAILER, decode_bars, encode_bars
from arbx.domain.errors import InvalidInput, StorageError
from arbx.domain.market import BAR_SCHEMA, Timeframe, TimeSpan, empty_bars
from tests.builders import key, make_bars
from tests.strategies import bar_series
from tests.support.postgres import PostgresTestDatabase

pytestmark = pytest.mark.postgres

SERIES = key("coinbase:ETH/USDC:1m")


@settings(max_examples=40, deadline=None)
@given(bars=bar_series(timeframe=Timeframe.M5, max_size=200))
def test_the_binary_codec_round_trips_any_bar_frame(bars: pl.DataFrame) -> None:
    assert decode_bars(encode_bars(bars)).equals(bars)


def test_the_codec_handles_bars_before_2000_and_an_empty_frame() -> None:
    old = make_bars(5, start=datetime(1999, 12, 31, 23, 58, tzinfo=UTC))  # crosses PG's epoch
    assert decode_bars(encode_bars(old)).equals(old)
    assert decode_bars(encode_bars(empty_bars())).equals(empty_bars())


def test_the_codec_refuses_a_stream_with_a_null_field() -> None:
    stream = bytearray(encode_bars(make_bars(2)))
    # The second field length of the first row (ts) set to -1: a NULL.
    stream[len(HEADER) + 2 : len(HEADER) + 6] = (-1).to_bytes(4, "big", signed=True)
    with pytest.raises(StorageError, match="NULL"):
        decode_bars(bytes(stream))


@pytest.mark.parametrize("stream", [b"", b"COPY\n", HEADER + b"\x00\x06" + TRAILER])
def test_the_codec_refuses_what_is_not_a_bar_stream(stream: bytes) -> None:
    with pytest.raises(StorageError):
        decode_bars(stream)


async def test_a_large_frame_round_trips_exactly(postgres_bar_store: PostgresBarStore) -> None:
    bars = make_bars(60_000, volatility=0.01)
    assert await postgres_bar_store.write(SERIES, bars) == 60_000
    back = await postgres_bar_store.read(SERIES, TimeSpan.everything())
    assert back.schema == pl.Schema(BAR_SCHEMA)
    assert back.equals(bars)
    # Doubles survive bit for bit.
    assert np.array_equal(
        back["close"].to_numpy().view(np.int64), bars["close"].to_numpy().view(np.int64)
    )


async def flags(pool: AsyncConnectionPool, schema: str) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT quality_score, is_validated, is_filled, ingested_at"
            f" FROM {schema}.market_data ORDER BY ts"
        )
        return await cur.fetchall()


async def test_rewriting_equal_bars_keeps_their_quality_and_a_change_resets_it(
    postgres_database: PostgresTestDatabase,
    postgres_bar_store: PostgresBarStore,
    postgres_pool: AsyncConnectionPool,
) -> None:
    schema = postgres_database.schema
    bars = make_bars(10)
    await postgres_bar_store.write(SERIES, bars)
    async with postgres_pool.connection() as conn:
        await conn.execute(
            f"UPDATE {schema}.market_data SET quality_score = 0.9, is_validated = true,"
            " is_filled = true"
        )
    validated = await flags(postgres_pool, schema)

    assert await postgres_bar_store.write(SERIES, bars) == 0
    assert await flags(postgres_pool, schema) == validated

    changed = bars.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.col("volume") + 1)
        .otherwise("volume")
        .alias("volume")
    )
    assert await postgres_bar_store.write(SERIES, changed) == 1
    after = await flags(postgres_pool, schema)
    assert after[3][:3] == (None, False, False)
    assert after[3][3] > validated[3][3]
    assert [row for i, row in enumerate(after) if i != 3] == [
        row for i, row in enumerate(validated) if i != 3
    ]


def test_a_schema_name_that_could_inject_sql_is_refused(
    postgres_pool: AsyncConnectionPool,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        PostgresBarStore(postgres_pool, 'arbx"; DROP TABLE x; --')
    assert caught.value.field == "database_schema"


async def test_a_store_on_an_unmigrated_schema_says_so(
    postgres_pool: AsyncConnectionPool,
) -> None:
    store = PostgresBarStore(postgres_pool, "arbx_never_migrated")
    with pytest.raises(StorageError, match="does not exist") as caught:
        await store.ping()
    assert isinstance(caught.value.__cause__, psycopg.errors.UndefinedTable)
    with pytest.raises(StorageError):
        await store.read(SERIES, TimeSpan.everything())
    with pytest.raises(StorageError):
        await store.write(SERIES, make_bars(3))


@pytest.fixture
def split_store(
    postgres_database: PostgresTestDatabase,
    postgres_bar_store: PostgresBarStore,
    postgres_pool: AsyncConnectionPool,
) -> PostgresBarStore:
    """A store that reads spans of more than 1,000 bars in up to 3 parallel parts."""
    return PostgresBarStore(
        postgres_pool, postgres_database.schema, read_parallelism=3, rows_per_read_part=1_000
    )


async def test_a_read_split_in_parts_returns_every_bar_once_in_order(
    split_store: PostgresBarStore,
) -> None:
    bars = pl.concat(
        [make_bars(4_000, seed=5), make_bars(1_001, start=datetime(2024, 3, 1, tzinfo=UTC))]
    )
    await split_store.write(SERIES, bars)

    assert (await split_store.read(SERIES, TimeSpan.everything())).equals(bars)
    inner = TimeSpan.of(bars["ts"][17], bars["ts"][4_500])
    assert (await split_store.read(SERIES, inner)).equals(bars[17:4_500])


async def test_a_split_read_on_a_one_connection_pool_reads_the_parts_itself(
    postgres_database: PostgresTestDatabase, postgres_bar_store: PostgresBarStore
) -> None:
    bars = make_bars(5_000, seed=6)
    await postgres_bar_store.write(SERIES, bars)
    pool = AsyncConnectionPool(
        postgres_database.url, min_size=1, max_size=1, timeout=5.0, open=False
    )
    await pool.open(wait=True)
    try:
        store = PostgresBarStore(
            pool, postgres_database.schema, read_parallelism=4, rows_per_read_part=500
        )
        assert (await store.read(SERIES, TimeSpan.everything())).equals(bars)
    finally:
        await pool.close()


async def test_split_reads_never_see_half_of_a_concurrent_write(
    split_store: PostgresBarStore,
) -> None:
    old = make_bars(6_000, seed=7)
    new = old.with_columns(pl.col("volume") + 1.0)
    await split_store.write(SERIES, old)

    async def flip() -> None:
        for version in (new, old) * 8:
            await split_store.write(SERIES, version)

    async def observe() -> list[pl.DataFrame]:
        return [await split_store.read(SERIES, TimeSpan.everything()) for _ in range(24)]

    _, seen = await asyncio.gather(flip(), observe())
    for frame in seen:
        assert frame.equals(old) or frame.equals(new)
