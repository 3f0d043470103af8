"""The market-data storage layout: TimescaleDB when the server has it, plain PostgreSQL if not.

This module is the ONE place that holds TimescaleDB DDL (reviewed against the TimescaleDB 2.x
docs: ``create_hypertable`` with ``by_range`` (2.13+), ``ALTER TABLE ... SET
(timescaledb.compress ...)``, ``add_compression_policy``, continuous aggregates with
``add_continuous_aggregate_policy``; DML on compressed chunks, which our upserts need, exists
since 2.11).

TimescaleDB path (``path == "timescaledb"``):
- ``market_data`` becomes a hypertable on ``ts``. Chunk interval 7 days by default: rows are
  dominated by 1m bars (10,080 per series per week; 1h and 1d add under 2 %), so a week of a
  few hundred series is a few million rows, a chunk plus its index well under the quarter of
  RAM TimescaleDB advises, while a year of data is only ~52 chunks to plan over.
- compression segmented by (exchange, symbol, timeframe), ordered by ts, with a policy for
  chunks older than ``compress_after`` (30 days by default: late corrections and gap fills
  mostly land in the recent past, and upserts into compressed chunks are slower);
- continuous aggregates ``market_data_1h`` and ``market_data_1d`` built from the 1m bars
  (real-time: not yet materialized buckets are computed on read), refreshed by policies whose
  window is open at the start so back-filled history is re-aggregated (refresh only touches
  invalidated buckets, so this stays cheap).

Plain path (``path == "plain"``): the primary key (exchange, symbol, timeframe, ts) serves
reads by series; a BRIN index on ts serves scans across series by time; the same two rollups
exist as ordinary views using ``date_bin`` where ``time_bucket`` would be used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import psycopg
from psycopg import sql

from arbx.adapters.postgres.stream_layout import ensure_stream_hypertables
from arbx.domain.errors import InvalidInput, StorageError

TimescaleMode = Literal["auto", "require", "off"]
Path = Literal["timescaledb", "plain"]

MIN_TIMESCALE_VERSION = (2, 13)
ROLLUPS: tuple[tuple[str, str], ...] = (("market_data_1h", "1 hour"), ("market_data_1d", "1 day"))


@dataclass(frozen=True, slots=True)
class LayoutOptions:
    """``timescale``: "auto" uses TimescaleDB when the server offers it, "require" fails
    without it, "off" keeps plain PostgreSQL even when it is available."""

    timescale: TimescaleMode = "auto"
    chunk_interval: timedelta = timedelta(days=7)
    compress_after: timedelta = timedelta(days=30)
    continuous_aggregates: bool = True

    def __post_init__(self) -> None:
        if self.timescale not in ("auto", "require", "off"):
            raise InvalidInput(
                f"timescale mode {self.timescale!r} is not valid; use auto, require or off",
                field="timescale",
            )
        for name in ("chunk_interval", "compress_after"):
            if getattr(self, name) <= timedelta(0):
                raise InvalidInput(f"{name} must be a positive duration", field=name)


@dataclass(frozen=True, slots=True)
class StorageLayout:
    """Which path is active in a schema, for ``/ready`` and ``arbx db info``."""

    path: Path
    timescaledb_available: str | None
    timescaledb_installed: str | None
    hypertable: bool
    compression: bool
    rollups: tuple[str, ...]
    reason: str


async def available_timescale(conn: psycopg.AsyncConnection) -> str | None:
    """The version of ``timescaledb`` the server can install, or None."""
    cur = await conn.execute(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
    )
    row = await cur.fetchone()
    return str(row[0]) if row else None


async def inspect_layout(conn: psycopg.AsyncConnection, schema: str) -> StorageLayout:
    """Report the active path of ``schema`` as it is in the database (not as configured)."""
    available = await available_timescale(conn)
    cur = await conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    row = await cur.fetchone()
    installed = str(row[0]) if row else None
    hypertable = compression = False
    rollups: list[str] = []
    if installed is not None:
        cur = await conn.execute(
            "SELECT compression_enabled FROM timescaledb_information.hypertables"
            " WHERE hypertable_schema = %s AND hypertable_name = 'market_data'",
            (schema,),
        )
        row = await cur.fetchone()
        hypertable, compression = row is not None, bool(row and row[0])
        cur = await conn.execute(
            "SELECT view_name FROM timescaledb_information.continuous_aggregates"
            " WHERE view_schema = %s ORDER BY view_name",
            (schema,),
        )
        rollups = [str(r[0]) for r in await cur.fetchall()]
    if hypertable:
        return StorageLayout(
            "timescaledb",
            available,
            installed,
            True,
            compression,
            tuple(rollups),
            f"market_data is a TimescaleDB {installed} hypertable",
        )
    cur = await conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind = 'v' AND c.relname = ANY(%s) ORDER BY c.relname",
        (schema, [name for name, _ in ROLLUPS]),
    )
    views = tuple(str(r[0]) for r in await cur.fetchall())
    reason = (
        "the server has no timescaledb extension"
        if available is None
        else f"timescaledb {available} is available but market_data is not a hypertable"
    )
    return StorageLayout("plain", available, installed, False, False, views, reason)


async def ensure_layout(
    conn: psycopg.AsyncConnection, schema: str, options: LayoutOptions
) -> StorageLayout:
    """Apply the storage layout for ``options`` to an autocommit connection; idempotent.

    In "auto" mode a TimescaleDB that is listed but cannot be enabled (not preloaded, too
    old, no privilege) falls back to the plain path and says why; "require" raises
    ``StorageError`` instead. A schema that is already a hypertable stays one.
    """
    current = await inspect_layout(conn, schema)
    if current.hypertable:
        if options.timescale != "off":
            await _enable_timescale(conn, schema, options)
        return await inspect_layout(conn, schema)
    fallback: str | None = None
    if options.timescale == "off":
        fallback = "TimescaleDB is turned off by configuration"
    elif current.timescaledb_available is None:
        fallback = "the server has no timescaledb extension"
    elif _version(current.timescaledb_available) < MIN_TIMESCALE_VERSION:
        fallback = (
            f"timescaledb {current.timescaledb_available} is older than"
            f" {'.'.join(map(str, MIN_TIMESCALE_VERSION))}, which arbx needs"
        )
    else:
        try:
            await _enable_timescale(conn, schema, options)
            return await inspect_layout(conn, schema)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            fallback = f"enabling timescaledb failed: {str(exc).strip().splitlines()[0]}"
    if options.timescale == "require":
        raise StorageError(
            f"TimescaleDB is required (timescale=require) but cannot be used: {fallback};"
            " install and preload it, or set timescale=auto"
        )
    await _ensure_plain(conn, schema)
    layout = await inspect_layout(conn, schema)
    return StorageLayout(
        layout.path,
        layout.timescaledb_available,
        layout.timescaledb_installed,
        layout.hypertable,
        layout.compression,
        layout.rollups,
        fallback,
    )


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


async def _enable_timescale(
    conn: psycopg.AsyncConnection, schema: str, options: LayoutOptions
) -> None:
    table = sql.Identifier(schema, "market_data")
    regclass = f"{schema}.market_data"
    async with conn.transaction():
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        await conn.execute(
            "SELECT create_hypertable(%s::regclass, by_range('ts', %s::interval),"
            " if_not_exists => true, migrate_data => true)",
            (regclass, options.chunk_interval),
        )
        # Applies to chunks created from now on; existing chunks keep their width.
        await conn.execute(
            "SELECT set_chunk_time_interval(%s::regclass, %s::interval)",
            (regclass, options.chunk_interval),
        )
        await conn.execute(
            sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(schema, "market_data_ts_brin"))
        )
        cur = await conn.execute(
            "SELECT compression_enabled FROM timescaledb_information.hypertables"
            " WHERE hypertable_schema = %s AND hypertable_name = 'market_data'",
            (schema,),
        )
        row = await cur.fetchone()
        if not (row and row[0]):
            await conn.execute(
                sql.SQL(
                    "ALTER TABLE {} SET (timescaledb.compress,"
                    " timescaledb.compress_segmentby = 'exchange, symbol, timeframe',"
                    " timescaledb.compress_orderby = 'ts DESC')"
                ).format(table)
            )
        # Re-adding the policy applies a changed compress_after; add_* with if_not_exists
        # would keep the old interval.
        await conn.execute(
            "SELECT remove_compression_policy(%s::regclass, if_exists => true)", (regclass,)
        )
        await conn.execute(
            "SELECT add_compression_policy(%s::regclass, compress_after => %s::interval)",
            (regclass, options.compress_after),
        )
        if options.continuous_aggregates:
            await _ensure_continuous_aggregates(conn, schema)
        await ensure_stream_hypertables(conn, schema)  # quotes and book updates (issue 17)


async def _ensure_continuous_aggregates(conn: psycopg.AsyncConnection, schema: str) -> None:
    cur = await conn.execute(
        "SELECT view_name FROM timescaledb_information.continuous_aggregates"
        " WHERE view_schema = %s",
        (schema,),
    )
    existing = {str(r[0]) for r in await cur.fetchall()}
    source = sql.Identifier(schema, "market_data")
    for name, width in ROLLUPS:
        view = sql.Identifier(schema, name)
        if name in existing:
            continue
        # A plain-path view of the same name is replaced by the continuous aggregate.
        await conn.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(view))
        bucket = sql.SQL("time_bucket(INTERVAL {}, ts)").format(sql.Literal(width))
        await conn.execute(
            sql.SQL(
                "CREATE MATERIALIZED VIEW {view}"
                " WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS"
                " SELECT exchange, symbol, {bucket} AS ts,"
                " first(open, ts) AS open, max(high) AS high, min(low) AS low,"
                " last(close, ts) AS close, sum(volume) AS volume, count(*) AS bars"
                " FROM {source} WHERE timeframe = '1m'"
                " GROUP BY exchange, symbol, {bucket}"
                " WITH NO DATA"
            ).format(view=view, bucket=bucket, source=source)
        )
        await conn.execute(
            "SELECT add_continuous_aggregate_policy(%s::regclass,"
            " start_offset => NULL, end_offset => %s::interval,"
            " schedule_interval => %s::interval, if_not_exists => true)",
            (f"{schema}.{name}", width, "30 minutes" if width == "1 hour" else "6 hours"),
        )


async def _ensure_plain(conn: psycopg.AsyncConnection, schema: str) -> None:
    source = sql.Identifier(schema, "market_data")
    async with conn.transaction():
        await conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING brin (ts)").format(
                sql.Identifier("market_data_ts_brin"), source
            )
        )
        for name, width in ROLLUPS:
            bucket = sql.SQL(
                "date_bin(INTERVAL {}, ts, TIMESTAMPTZ '1970-01-01 00:00:00+00')"
            ).format(sql.Literal(width))
            await conn.execute(
                sql.SQL(
                    "CREATE OR REPLACE VIEW {view} AS"
                    " SELECT exchange, symbol, {bucket} AS ts,"
                    " (array_agg(open ORDER BY ts))[1] AS open, max(high) AS high,"
                    " min(low) AS low, (array_agg(close ORDER BY ts DESC))[1] AS close,"
                    " sum(volume) AS volume, count(*) AS bars"
                    " FROM {source} WHERE timeframe = '1m'"
                    " GROUP BY exchange, symbol, {bucket}"
                ).format(view=sql.Identifier(schema, name), bucket=bucket, source=source)
            )
