"""PostgresQualityStore beyond the shared contract: sort order by code point (as the port and
the memory store define it), and an unreachable server."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.quality_store import PostgresQualityStore
from arbx.domain.errors import StorageUnavailable
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
    store = PostgresQualityStore(pool)
    try:
        with pytest.raises(StorageUnavailable):
            await store.series()
        with pytest.raises(StorageUnavailable):
            await store.replace_issues(KEY, DAY, [])
    finally:
        await pool.close()
