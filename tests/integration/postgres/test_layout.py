"""Storage layout: this server has no TimescaleDB, so the plain path is active and reported."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.bar_store import PostgresBarStore
from arbx.adapters.postgres.info import database_info
from arbx.adapters.postgres.migrate import load_migrations, upgrade
from arbx.adapters.postgres.timescale import (
    LayoutOptions,
    available_timescale,
    inspect_layout,
)
from arbx.domain.errors import InvalidInput, StorageError
from tests.builders import key, make_bars
from tests.support.postgres import PostgresTestDatabase

pytestmark = pytest.mark.postgres

Conn = psycopg.AsyncConnection[Any]


async def test_timescaledb_is_detected_as_absent_here(admin_conn: Conn) -> None:
    assert await available_timescale(admin_conn) is None


async def test_the_plain_path_gets_a_brin_index_and_date_bin_rollups(
    admin_conn: Conn, scratch_schema: str
) -> None:
    result = await upgrade(admin_conn, scratch_schema)

    assert result.layout.path == "plain"
    assert result.layout.reason == "the server has no timescaledb extension"
    assert result.layout.rollups == ("market_data_1d", "market_data_1h")
    cur = await admin_conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'market_data'",
        (scratch_schema,),
    )
    indexes = [row[0] for row in await cur.fetchall()]
    assert any("USING brin (ts)" in d for d in indexes)
    assert any("(exchange, symbol, timeframe, ts)" in d for d in indexes)
    cur = await admin_conn.execute(
        "SELECT pg_get_viewdef(%s::regclass)", (f"{scratch_schema}.market_data_1h",)
    )
    row = await cur.fetchone()
    assert row is not None
    assert "date_bin" in row[0]


async def test_inspect_reports_the_active_path(admin_conn: Conn, scratch_schema: str) -> None:
    await upgrade(admin_conn, scratch_schema)
    layout = await inspect_layout(admin_conn, scratch_schema)
    assert (layout.path, layout.hypertable, layout.compression) == ("plain", False, False)
    assert layout.timescaledb_available is None
    assert layout.timescaledb_installed is None


async def test_requiring_timescaledb_without_it_fails_clearly(
    admin_conn: Conn, scratch_schema: str
) -> None:
    with pytest.raises(StorageError, match="TimescaleDB is required .* no timescaledb extension"):
        await upgrade(admin_conn, scratch_schema, layout=LayoutOptions(timescale="require"))


async def test_turning_timescaledb_off_keeps_the_plain_path_and_says_why(
    admin_conn: Conn, scratch_schema: str
) -> None:
    result = await upgrade(admin_conn, scratch_schema, layout=LayoutOptions(timescale="off"))
    assert result.layout.path == "plain"
    assert "turned off by configuration" in result.layout.reason


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"timescale": "maybe"}, "timescale"),
        ({"chunk_interval": timedelta(0)}, "chunk_interval"),
        ({"compress_after": timedelta(days=-1)}, "compress_after"),
    ],
)
def test_bad_layout_options_are_refused(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        LayoutOptions(**options)
    assert caught.value.field == field


async def test_database_info_reports_version_migrations_and_path(
    postgres_database: PostgresTestDatabase, postgres_pool: AsyncConnectionPool
) -> None:
    info = await database_info(postgres_pool, postgres_database.schema)
    assert info.server_version[:2].isdigit()
    assert info.schema == postgres_database.schema
    assert info.migrations.up_to_date
    assert info.migrations.current == load_migrations()[-1].version
    assert info.path == "plain"


async def test_hourly_rollup_aggregates_one_minute_bars(
    postgres_database: PostgresTestDatabase,
    postgres_bar_store: PostgresBarStore,
    postgres_pool: AsyncConnectionPool,
) -> None:
    bars = make_bars(180)  # three whole hours from 2024-01-01T00:00Z
    await postgres_bar_store.write(key("binance:BTC/USDC:1m"), bars)

    async with postgres_pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT ts, open, high, low, close, volume, bars"
            f" FROM {postgres_database.schema}.market_data_1h"
            " WHERE exchange = 'binance' AND symbol = 'BTC/USDC' ORDER BY ts"
        )
        rows = await cur.fetchall()

    expected = (
        bars.group_by_dynamic("ts", every="1h")
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
            pl.len().alias("bars"),
        )
        .rows()
    )
    assert len(rows) == 3
    for got, want in zip(rows, expected, strict=True):
        assert got[0] == want[0]
        assert got[1:5] == want[1:5]
        assert got[5] == pytest.approx(want[5], rel=1e-12)
        assert got[6] == want[6] == 60
