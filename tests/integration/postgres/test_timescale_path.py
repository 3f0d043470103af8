"""The TimescaleDB path, driven against a fake connection that simulates the catalog.

TimescaleDB cannot be installed on the test server, so these tests pin down what the
layout code *asks for* when it is available (and how it falls back when it is not usable);
the SQL itself follows the TimescaleDB 2.x docs (see arbx.adapters.postgres.timescale).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from arbx.adapters.postgres.timescale import LayoutOptions, ensure_layout
from arbx.domain.errors import StorageError


class FakeCursor:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    async def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    async def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows


class FakeTimescaleServer:
    """Answers the catalog queries the layout code makes, and remembers what DDL ran."""

    def __init__(self, available: str | None = "2.17.2", *, refuse: str | None = None) -> None:
        self.available = available
        self.refuse = refuse  # a statement fragment the server rejects
        self.installed = False
        self.hypertable = False
        self.compression = False
        self.rollups: set[str] = set()
        self.log: list[tuple[str, Sequence[Any] | None]] = []

    async def execute(self, query: Any, params: Sequence[Any] | None = None) -> FakeCursor:
        text = query if isinstance(query, str) else query.as_string(None)
        self.log.append((text, params))
        if self.refuse and self.refuse in text:
            raise psycopg.errors.FeatureNotSupported('extension "timescaledb" must be preloaded')
        rows: list[tuple[Any, ...]] = []
        if "pg_available_extensions" in text:
            rows = [(self.available,)] if self.available else []
        elif "FROM pg_extension" in text:
            rows = [(self.available,)] if self.installed else []
        elif "CREATE EXTENSION" in text:
            self.installed = True
        elif "create_hypertable" in text:
            self.hypertable = True
        elif "timescaledb.compress," in text:
            self.compression = True
        elif "timescaledb_information.hypertables" in text:
            rows = [(self.compression,)] if self.hypertable else []
        elif "CREATE MATERIALIZED VIEW" in text:
            self.rollups.add(text.split('"')[3])
        elif "timescaledb_information.continuous_aggregates" in text:
            rows = [(name,) for name in sorted(self.rollups)]
        return FakeCursor(rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield

    def ran(self, fragment: str) -> list[tuple[str, Sequence[Any] | None]]:
        return [(text, params) for text, params in self.log if fragment in text]


async def layout(server: FakeTimescaleServer, **options: Any) -> Any:
    return await ensure_layout(server, "arbx", LayoutOptions(**options))  # type: ignore[arg-type]


async def test_with_timescaledb_market_data_becomes_a_compressed_hypertable_with_rollups() -> None:
    server = FakeTimescaleServer()
    result = await layout(
        server, chunk_interval=timedelta(days=3), compress_after=timedelta(days=14)
    )

    assert (result.path, result.hypertable, result.compression) == ("timescaledb", True, True)
    assert result.rollups == ("market_data_1d", "market_data_1h")
    assert server.ran("CREATE EXTENSION IF NOT EXISTS timescaledb")
    [(hypertable, params)] = [
        (text, params)
        for text, params in server.ran("create_hypertable")
        if params and params[0] == "arbx.market_data"
    ]
    assert "by_range('ts'" in hypertable
    assert "migrate_data => true" in hypertable
    assert params == ("arbx.market_data", timedelta(days=3))
    [(compress, _)] = server.ran("timescaledb.compress,")
    assert "compress_segmentby = 'exchange, symbol, timeframe'" in compress
    [(_, policy)] = server.ran("add_compression_policy")
    assert policy == ("arbx.market_data", timedelta(days=14))
    views = [text for text, _ in server.ran("CREATE MATERIALIZED VIEW")]
    assert len(views) == 2
    for view in views:
        assert "timescaledb.continuous" in view
        assert "time_bucket(" in view
        assert "first(open, ts)" in view
        assert "last(close, ts)" in view
        assert "WHERE timeframe = '1m'" in view
    assert len(server.ran("add_continuous_aggregate_policy")) == 2
    assert not server.ran("date_bin")
    assert not server.ran("USING brin")


async def test_with_timescaledb_the_stream_tables_become_hypertables_too() -> None:
    """quotes and book_updates (0013) become one-day hypertables; the unique key index
    without ts, which a hypertable cannot hold, is dropped first (the store keeps the key)."""
    server = FakeTimescaleServer()
    await layout(server)
    made = {params[0]: params[1] for _, params in server.ran("create_hypertable") if params}
    assert made["arbx.quotes"] == timedelta(days=1)
    assert made["arbx.book_updates"] == timedelta(days=1)
    texts = [text for text, _ in server.log]
    drop = next(i for i, t in enumerate(texts) if "book_updates_key" in t)
    book = next(i for i, t in enumerate(texts) if "create_hypertable" in t and i > drop)
    assert texts[drop].startswith("DROP INDEX IF EXISTS")
    assert drop < book


async def test_re_running_keeps_settings_and_reapplies_the_compression_age() -> None:
    server = FakeTimescaleServer()
    await layout(server)
    server.log.clear()

    result = await layout(server, compress_after=timedelta(days=60))

    assert result.path == "timescaledb"
    assert not server.ran("timescaledb.compress,")  # settings on compressed chunks stay
    assert not server.ran("CREATE MATERIALIZED VIEW")
    assert server.ran("remove_compression_policy")
    [(_, policy)] = server.ran("add_compression_policy")
    assert policy == ("arbx.market_data", timedelta(days=60))


async def test_a_listed_but_unusable_timescaledb_falls_back_to_plain_and_says_why() -> None:
    server = FakeTimescaleServer(refuse="CREATE EXTENSION")
    result = await layout(server)

    assert result.path == "plain"
    assert "enabling timescaledb failed" in result.reason
    assert "preloaded" in result.reason
    assert server.ran("USING brin (ts)")
    assert len(server.ran("date_bin(")) == 2
    assert not server.ran("book_updates_key")  # the plain path keeps the unique key index


async def test_requiring_an_unusable_timescaledb_fails() -> None:
    with pytest.raises(StorageError, match="required .* preloaded"):
        await layout(FakeTimescaleServer(refuse="CREATE EXTENSION"), timescale="require")


async def test_a_timescaledb_too_old_for_compressed_upserts_is_not_used() -> None:
    server = FakeTimescaleServer(available="2.10.3")
    result = await layout(server)
    assert result.path == "plain"
    assert "older than 2.13" in result.reason
    assert not server.ran("CREATE EXTENSION")


async def test_turned_off_it_is_not_even_created() -> None:
    server = FakeTimescaleServer()
    result = await layout(server, timescale="off")
    assert result.path == "plain"
    assert not server.ran("CREATE EXTENSION")


def test_the_fake_renders_composed_sql_like_the_driver() -> None:
    rendered = sql.SQL("SELECT {}").format(sql.Identifier("arbx", "market_data"))
    assert rendered.as_string(None) == 'SELECT "arbx"."market_data"'
