"""The TimescaleDB layout of the stream tables (0013: ``quotes``, ``book_updates``): called by
``timescale._enable_timescale`` only when the extension is enabled, so the plain path keeps
ordinary tables. Both become hypertables on ``ts`` (one-day chunks: a busy book writes
millions of rows a day); ``book_updates_key``, a unique index without ts, cannot exist on a
hypertable, so it is dropped and ``PostgresBookStore`` keeps the key under its advisory lock.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
from psycopg import sql

STREAM_CHUNK = timedelta(days=1)


async def ensure_stream_hypertables(conn: psycopg.AsyncConnection, schema: str) -> None:
    """Idempotent; runs inside the caller's transaction."""
    await conn.execute(
        sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(schema, "book_updates_key"))
    )
    for table in ("quotes", "book_updates"):
        await conn.execute(
            "SELECT create_hypertable(%s::regclass, by_range('ts', %s::interval),"
            " if_not_exists => true, migrate_data => true)",
            (f"{schema}.{table}", STREAM_CHUNK),
        )
