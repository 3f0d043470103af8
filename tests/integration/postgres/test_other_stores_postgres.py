"""PostgresQualityStore and PostgresRunStore beyond their shared contracts: sort order by code
point (as the port and the memory store define it), and an unreachable server."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.quality_store import PostgresQualityStore
from arbx.adapters.postgres.run_store import PostgresRunStore
from arbx.domain.errors import NotFound, StorageUnavailable
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.quality import Severity, ValidationIssue

pytestmark = pytest.mark.postgres

KEY = SeriesKey.parse("kraken:BTC/USDC:1m")
T0 = datetime(2023, 3, 10, tzinfo=UTC)
DAY = TimeSpan(T0, T0 + timedelta(days=1))


async def test_issues_sort_by_code_point_not_by_locale(
    postgres_quality_store: PostgresQualityStore,
) -> None:
    details = ["b", "é", "B", "a", "Z", "ä"]
    stored = [ValidationIssue(KEY, T0, "stale_run", Severity.INFO, None, None, d) for d in details]
    await postgres_quality_store.replace_issues(KEY, DAY, stored)

    got = [i.detail for i in await postgres_quality_store.issues(KEY, DAY)]
    assert got == sorted(details)  # B, Z, a, b, ä, é


async def test_an_unreachable_server_raises_storage_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pool = AsyncConnectionPool(
        f"postgresql://arbx@127.0.0.1:{port}/arbx", min_size=0, max_size=1, timeout=0.2, open=False
    )
    await pool.open(wait=False)
    store = PostgresQualityStore(pool, "arbx")
    try:
        with pytest.raises(StorageUnavailable):
            await store.series()
        with pytest.raises(StorageUnavailable):
            await store.replace_issues(KEY, DAY, [])
    finally:
        await pool.close()


async def test_the_run_store_on_an_unreachable_server_raises_storage_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pool = AsyncConnectionPool(
        f"postgresql://arbx@127.0.0.1:{port}/arbx",
        min_size=0,
        max_size=1,
        timeout=0.2,
        open=False,
    )
    await pool.open(wait=False)
    store = PostgresRunStore(pool)
    try:
        with pytest.raises(StorageUnavailable):
            await store.ping()
        with pytest.raises(StorageUnavailable):
            await store.list()
    finally:
        await pool.close()


async def test_a_run_store_on_a_migrated_schema_starts_empty(
    postgres_run_store: PostgresRunStore,
) -> None:
    await postgres_run_store.ping()
    assert await postgres_run_store.list() == []
    with pytest.raises(NotFound):
        await postgres_run_store.get("nope")
    with pytest.raises(NotFound):
        await postgres_run_store.table("nope", "curve")
