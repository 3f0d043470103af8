"""Migrations: empty to head, idempotent re-runs, and refusals (newer, edited, broken)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.migrate import (
    Migration,
    check_database,
    check_schema_name,
    ensure_up_to_date,
    load_migrations,
    migration_status,
    upgrade,
)
from arbx.domain.errors import InvalidInput, StorageError
from tests.support.postgres import PostgresTestDatabase

pytestmark = pytest.mark.postgres

Conn = psycopg.AsyncConnection[Any]


async def tables_in(conn: Conn, schema: str) -> set[str]:
    cur = await conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
    )
    return {row[0] for row in await cur.fetchall()}


async def applied_rows(conn: Conn, schema: str) -> list[tuple[Any, ...]]:
    cur = await conn.execute(
        f"SELECT version, name, checksum, applied_at FROM {schema}.schema_migrations"
        " ORDER BY version"
    )
    return await cur.fetchall()


def test_packaged_migrations_are_numbered_from_one_without_gaps() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].label == "0001_market_data"


async def test_an_empty_schema_is_brought_to_head(admin_conn: Conn, scratch_schema: str) -> None:
    result = await upgrade(admin_conn, scratch_schema)

    head = load_migrations()[-1].version
    assert result.version == head
    assert result.applied == tuple(m.label for m in load_migrations())
    assert {"schema_migrations", "market_data", "data_gaps", "data_validation_issues"} <= (
        await tables_in(admin_conn, scratch_schema)
    )
    status = await migration_status(admin_conn, scratch_schema)
    assert status.up_to_date
    assert status.current == head
    assert [row[0] for row in await applied_rows(admin_conn, scratch_schema)] == list(
        range(1, head + 1)
    )


async def test_market_data_has_the_issue_columns_and_unique_series_ts(
    admin_conn: Conn, scratch_schema: str
) -> None:
    await upgrade(admin_conn, scratch_schema)
    cur = await admin_conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = 'market_data'",
        (scratch_schema,),
    )
    columns = dict(await cur.fetchall())
    for name in ("open", "high", "low", "close", "volume"):
        assert columns[name] == "double precision"
    assert columns["ts"] == "timestamp with time zone"
    assert {
        "exchange",
        "symbol",
        "timeframe",
        "quality_score",
        "is_validated",
        "is_filled",
        "ingested_at",
    } <= set(columns)
    row = ("binance", "BTC/USDC", "1m", "2024-01-01T00:00Z", 1, 1, 1, 1, 0)
    insert = (
        f"INSERT INTO {scratch_schema}.market_data"
        " (exchange, symbol, timeframe, ts, open, high, low, close, volume)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    await admin_conn.execute(insert, row)
    with pytest.raises(psycopg.errors.UniqueViolation):
        await admin_conn.execute(insert, row)


async def test_re_running_upgrade_applies_nothing_and_keeps_the_record(
    admin_conn: Conn, scratch_schema: str
) -> None:
    await upgrade(admin_conn, scratch_schema)
    before = await applied_rows(admin_conn, scratch_schema)

    again = await upgrade(admin_conn, scratch_schema)

    assert again.applied == ()
    assert await applied_rows(admin_conn, scratch_schema) == before


async def test_concurrent_upgrades_apply_each_migration_once(
    postgres_database: PostgresTestDatabase, scratch_schema: str
) -> None:
    conns = [
        await psycopg.AsyncConnection.connect(postgres_database.url, autocommit=True)
        for _ in range(3)
    ]
    try:
        results = await asyncio.gather(*(upgrade(c, scratch_schema) for c in conns))
        applied = [label for result in results for label in result.applied]
        assert sorted(applied) == [m.label for m in load_migrations()]
        assert len(await applied_rows(conns[0], scratch_schema)) == len(load_migrations())
    finally:
        for conn in conns:
            await conn.close()


async def test_a_database_newer_than_the_code_is_refused(
    admin_conn: Conn, scratch_schema: str
) -> None:
    await upgrade(admin_conn, scratch_schema)
    future = load_migrations()[-1].version + 1
    await admin_conn.execute(
        f"INSERT INTO {scratch_schema}.schema_migrations (version, name, checksum)"
        " VALUES (%s, 'from_the_future', 'x')",
        (future,),
    )

    for attempt in (upgrade, migration_status, ensure_up_to_date):
        with pytest.raises(StorageError, match=f"{future:04d}_from_the_future, newer than"):
            await attempt(admin_conn, scratch_schema)
    assert len(await applied_rows(admin_conn, scratch_schema)) == future


async def test_an_applied_migration_edited_afterwards_is_refused(
    admin_conn: Conn, scratch_schema: str
) -> None:
    await upgrade(admin_conn, scratch_schema)
    await admin_conn.execute(
        f"UPDATE {scratch_schema}.schema_migrations SET checksum = 'edited' WHERE version = 1"
    )

    with pytest.raises(StorageError, match="0001_market_data .* different file"):
        await upgrade(admin_conn, scratch_schema)


async def test_a_failing_migration_rolls_back_and_stays_pending(
    admin_conn: Conn, scratch_schema: str
) -> None:
    shipped = list(load_migrations())
    broken = Migration(
        len(shipped) + 1,
        "broken",
        "CREATE TABLE half_done (id int);\nSELECT 1 / 0;",
    )

    with pytest.raises(StorageError, match=r"migration \d{4}_broken failed .*rolled back"):
        await upgrade(admin_conn, scratch_schema, migrations=[*shipped, broken])

    assert "half_done" not in await tables_in(admin_conn, scratch_schema)
    status = await migration_status(admin_conn, scratch_schema, [*shipped, broken])
    assert status.current == len(shipped)
    assert [m.name for m in status.pending] == ["broken"]
    # The connection is usable and the shipped head is complete.
    assert (await migration_status(admin_conn, scratch_schema)).up_to_date


async def test_start_up_without_auto_migration_asks_for_db_upgrade(
    admin_conn: Conn, scratch_schema: str
) -> None:
    with pytest.raises(StorageError, match="run `arbx db upgrade`"):
        await ensure_up_to_date(admin_conn, scratch_schema)

    shipped = load_migrations()
    await upgrade(admin_conn, scratch_schema, migrations=shipped[:1])
    with pytest.raises(StorageError, match=r"at migration 0001.*pending.*arbx db upgrade"):
        await ensure_up_to_date(admin_conn, scratch_schema)

    await upgrade(admin_conn, scratch_schema)
    assert (await ensure_up_to_date(admin_conn, scratch_schema)).up_to_date


@pytest.mark.parametrize("name", ["", "Arbx", "arbx; DROP TABLE x", "1abc", "a" * 64, "a-b"])
def test_a_schema_name_that_is_not_a_plain_identifier_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_schema_name(name)
    assert caught.value.field == "database_schema"


async def test_upgrade_restores_the_connections_autocommit_setting(
    postgres_database: PostgresTestDatabase, scratch_schema: str
) -> None:
    conn = await psycopg.AsyncConnection.connect(postgres_database.url)
    try:
        await upgrade(conn, scratch_schema)
        assert conn.autocommit is False
    finally:
        await conn.close()


async def test_the_start_up_check_through_a_pool_passes_on_the_migrated_schema(
    postgres_database: PostgresTestDatabase, postgres_pool: AsyncConnectionPool
) -> None:
    status = await check_database(postgres_pool, postgres_database.schema)
    assert status.up_to_date
    with pytest.raises(StorageError, match="arbx db upgrade"):
        await check_database(postgres_pool, "arbx_never_migrated")
