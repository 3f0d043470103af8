"""The SpreadStore contract, written once and run against every adapter (memory, sqlite,
postgres). Tests use only the port's methods."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.memory.spread_store import MemorySpreadStore
from arbx.adapters.postgres.spread_store import PostgresSpreadStore
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.adapters.sqlite.spread_store import SqliteSpreadStore
from arbx.domain.streams.spreads import SpreadOpportunity
from arbx.ports.spread_store import SpreadStore
from tests.support.postgres import PostgresTestDatabase

T0 = 1_735_689_600_000_000


def opportunity(pair: str, start_us: int, *, sell: str = "coinbase:BTC/USDC") -> SpreadOpportunity:
    buy = "binance:BTC/USDC"
    return SpreadOpportunity(
        id=f"{pair}:{buy}:{sell}:{start_us}",
        pair=pair,
        buy=buy,
        sell=sell,
        start_us=start_us,
        end_us=start_us + 2_500_000,
        peak_net_bps=12.5,
        mean_net_bps=7.25,
        peak_gross_bps=82.5,
        updates=4,
        reason="below_threshold",
    )


@pytest.fixture
def memory_spread_store() -> SpreadStore:
    return MemorySpreadStore()


@pytest.fixture
async def sqlite_spread_store(tmp_path: Path) -> AsyncIterator[SpreadStore]:
    async with SqliteDatabase(tmp_path / "arbx.sqlite") as database:
        yield SqliteSpreadStore(database)


@pytest.fixture
async def postgres_spread_store(
    postgres_database: PostgresTestDatabase, postgres_pool: AsyncConnectionPool
) -> SpreadStore:
    async with postgres_pool.connection() as conn:
        await conn.execute(
            sql.SQL("TRUNCATE {}").format(
                sql.Identifier(postgres_database.schema, "spread_opportunities")
            )
        )
    return PostgresSpreadStore(postgres_pool, postgres_database.schema)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def spreads(request: pytest.FixtureRequest) -> SpreadStore:
    store: SpreadStore = request.getfixturevalue(f"{request.param}_spread_store")
    return store


async def test_record_is_idempotent_by_id_and_reads_back_whole(spreads: SpreadStore) -> None:
    first = opportunity("btc-usdc", T0)
    assert await spreads.record([first, opportunity("btc-usdc", T0 + 10)]) == 2
    assert await spreads.record([first]) == 0
    assert await spreads.record([]) == 0
    stored = await spreads.history()
    assert [o.start_us for o in stored] == [T0 + 10, T0]  # newest first
    assert stored[1] == first
    assert stored[1].duration_ms == 2500.0


async def test_history_filters_by_pair_and_start_and_limits(spreads: SpreadStore) -> None:
    await spreads.record(
        [opportunity("a", T0 + i) for i in range(5)]
        + [opportunity("b", T0 + 2), opportunity("a", T0 + 2, sell="kraken:BTC/USDC")]
    )
    a = await spreads.history(pair="a")
    assert len(a) == 6
    assert {o.pair for o in a} == {"a"}
    assert [o.start_us for o in await spreads.history(pair="a", limit=2)] == [T0 + 4, T0 + 3]
    window = await spreads.history(start_us=T0 + 2, end_us=T0 + 3)
    assert sorted(o.id for o in window) == sorted(
        [
            opportunity("a", T0 + 2).id,
            opportunity("b", T0 + 2).id,
            opportunity("a", T0 + 2, sell="kraken:BTC/USDC").id,
        ]
    )
    ties = [o.id for o in window]
    assert ties == sorted(ties, reverse=True)  # same start: by id descending
    assert await spreads.history(pair="none") == []
    assert await spreads.history(limit=0) == []
