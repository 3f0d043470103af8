"""Faults in the middle of a bulk write leave exactly the old data.

To kill a write *in the middle*, the test makes it wait on a lock the test holds (a row lock
for the update path, an uncommitted duplicate key for the insert path), checks the writer's
backend is waiting with part of the batch already done, and only then kills or cancels it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import polars as pl
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.bar_store import PostgresBarStore
from arbx.adapters.postgres.pool import open_pool
from arbx.domain.errors import StorageUnavailable
from arbx.domain.market import SeriesKey, TimeSpan
from tests.builders import key, make_bars
from tests.support.postgres import PostgresTestDatabase

pytestmark = pytest.mark.postgres

Conn = psycopg.AsyncConnection[Any]
SERIES = key("binance:BTC/USDC:1m")
OLD_ROWS = 20_000


@pytest.fixture
async def one_connection_store(
    postgres_database: PostgresTestDatabase, postgres_bar_store: PostgresBarStore
) -> AsyncIterator[tuple[PostgresBarStore, AsyncConnectionPool]]:
    """A store on a one-connection pool (so the test knows the writer's backend); the table
    is emptied by ``postgres_bar_store``."""
    pool = await open_pool(postgres_database.pool_config(min_size=1, max_size=1))
    try:
        yield PostgresBarStore(pool, postgres_database.schema), pool
    finally:
        await pool.close()


async def backend_pid(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT pg_backend_pid()")
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def wait_until_blocked(admin: Conn, pid: int, write: asyncio.Task[int]) -> str:
    """Wait until backend ``pid`` waits on a lock; return the statement it is running."""
    for _ in range(1000):
        assert not write.done(), "the write finished before it could be interrupted"
        cur = await admin.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
            (pid,),
        )
        row = await cur.fetchone()
        if row is not None:
            return str(row[0])
        await asyncio.sleep(0.01)
    raise AssertionError("the write never reached the lock the test holds")


async def snapshot(admin: Conn, schema: str) -> list[tuple[Any, ...]]:
    """Every stored row of SERIES, metadata included."""
    cur = await admin.execute(
        f"SELECT * FROM {schema}.market_data WHERE exchange = %s AND symbol = %s"
        " AND timeframe = %s ORDER BY ts",
        (str(SERIES.exchange), str(SERIES.symbol), str(SERIES.timeframe)),
    )
    return await cur.fetchall()


async def test_killing_the_connection_mid_upsert_leaves_the_old_data_exactly(
    postgres_database: PostgresTestDatabase,
    one_connection_store: tuple[PostgresBarStore, AsyncConnectionPool],
    admin_conn: Conn,
) -> None:
    store, pool = one_connection_store
    old = make_bars(OLD_ROWS, seed=1)
    await store.write(SERIES, old)
    before = await snapshot(admin_conn, postgres_database.schema)
    new = make_bars(OLD_ROWS + 10_000, seed=2)  # changes every old bar and adds 10k
    pid = await backend_pid(pool)
    locker = await psycopg.AsyncConnection.connect(postgres_database.url)
    try:
        await locker.execute(
            f"SELECT 1 FROM {postgres_database.schema}.market_data WHERE exchange = %s"
            " AND symbol = %s AND timeframe = %s AND ts = %s FOR UPDATE",
            (str(SERIES.exchange), str(SERIES.symbol), "1m", old["ts"][OLD_ROWS * 3 // 4]),
        )
        write = asyncio.create_task(store.write(SERIES, new))
        statement = await wait_until_blocked(admin_conn, pid, write)
        assert statement.lstrip().upper().startswith("UPDATE")

        await admin_conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StorageUnavailable, match="PostgreSQL is unreachable"):
            await write
    finally:
        await locker.close()

    assert await snapshot(admin_conn, postgres_database.schema) == before
    # The pool replaced the dead connection: the store works again and reads the old bars.
    assert (await store.read(SERIES, TimeSpan.everything())).equals(old)


async def test_killing_the_connection_mid_first_insert_stores_nothing(
    postgres_database: PostgresTestDatabase,
    one_connection_store: tuple[PostgresBarStore, AsyncConnectionPool],
    admin_conn: Conn,
) -> None:
    store, pool = one_connection_store
    other = SeriesKey.of("kraken", "ETH/USDC", "1m")
    await store.write(other, make_bars(100))
    new = make_bars(30_000, seed=3)
    pid = await backend_pid(pool)
    # An uncommitted row with the batch's last key: the COPY waits on it near its end.
    locker = await psycopg.AsyncConnection.connect(postgres_database.url)
    try:
        last = new.row(new.height - 1, named=True)
        await locker.execute(
            f"INSERT INTO {postgres_database.schema}.market_data"
            " (exchange, symbol, timeframe, ts, open, high, low, close, volume)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (str(SERIES.exchange), str(SERIES.symbol), "1m", *last.values()),
        )
        write = asyncio.create_task(store.write(SERIES, new))
        statement = await wait_until_blocked(admin_conn, pid, write)
        # Nothing overlaps, so the rows stream straight into market_data.
        assert statement.lstrip().startswith("COPY")
        assert "market_data" in statement

        await admin_conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StorageUnavailable):
            await write
        await locker.rollback()
    finally:
        await locker.close()

    assert await snapshot(admin_conn, postgres_database.schema) == []
    assert (await store.read(SERIES, TimeSpan.everything())).is_empty()
    assert [info.key for info in await store.list_series()] == [other]


async def test_cancelling_a_write_mid_way_leaves_the_old_data(
    postgres_database: PostgresTestDatabase,
    one_connection_store: tuple[PostgresBarStore, AsyncConnectionPool],
    admin_conn: Conn,
) -> None:
    store, pool = one_connection_store
    old = make_bars(5_000, seed=4)
    await store.write(SERIES, old)
    pid = await backend_pid(pool)
    locker = await psycopg.AsyncConnection.connect(postgres_database.url)
    try:
        await locker.execute(
            f"SELECT 1 FROM {postgres_database.schema}.market_data WHERE ts = %s FOR UPDATE",
            (old["ts"][-1],),
        )
        changed = old.with_columns(volume=pl.col("volume") + 1.0)
        write = asyncio.create_task(store.write(SERIES, changed))
        await wait_until_blocked(admin_conn, pid, write)
        write.cancel()
        with pytest.raises(asyncio.CancelledError):
            await write
    finally:
        await locker.close()

    assert (await store.read(SERIES, TimeSpan.everything())).equals(old)
