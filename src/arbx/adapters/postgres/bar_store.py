"""BarStore on PostgreSQL (plain or TimescaleDB): ``market_data`` in a given schema.

Writes, in ONE transaction per call (atomic; the count is "inserted or changed"):
1. take a transaction-scoped advisory lock on the series, so writers of one series queue;
2. when no stored bar falls in the frame's [first ts, last ts] (a first load, an append),
   binary COPY the rows straight into market_data: the bulk-load limit, plus the index;
3. otherwise binary COPY them into a per-connection temporary table, then
   ``UPDATE ... FROM staging WHERE values differ`` and ``INSERT ... SELECT ... WHERE NOT EXISTS``.
This is the upsert ``INSERT ... ON CONFLICT DO UPDATE ... WHERE values differ`` would do, at a
third of its cost: measured on 500k bars, ON CONFLICT's speculative insertion took 2.9 s for a
first insert and 2.2 s for a no-change re-write, against 1.1 s and 0.6 s for a plain insert
and this pair. The lock is what makes both paths safe: without it two writers could both see
a ts as missing. (A writer that bypasses this store and its lock can still only cause a unique
violation, which rolls the whole call back.)
Reads: ``COPY (SELECT ...) TO STDOUT (FORMAT BINARY)`` decoded by numpy (see copy_binary).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from arbx.adapters.postgres.copy_binary import copy_out, decode_bars, encode_bars
from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.identifiers import check_schema_name
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan, empty_bars, to_ms, utc
from arbx.domain.market.series_ops import prepare_write
from arbx.ports.bar_store import BarStore, SeriesInfo

_STAGING = sql.Identifier("pg_temp", "arbx_incoming_bars")
# One staging table per connection, created once and emptied by every commit or rollback.
_CREATE_STAGING = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS {} (ts timestamptz NOT NULL, open float8 NOT NULL,"
    " high float8 NOT NULL, low float8 NOT NULL, close float8 NOT NULL,"
    " volume float8 NOT NULL) ON COMMIT DELETE ROWS"
).format(_STAGING)
_COPY_STAGING = sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(_STAGING)
_VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
_COPY_CHUNK = 1 << 20
_SNAPSHOT_READ = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
_HELPER_WAIT = 0.05
_COPY_OUT = sql.SQL(
    "COPY (SELECT ts, open, high, low, close, volume FROM {table}"
    " WHERE exchange = {exchange} AND symbol = {symbol} AND timeframe = {timeframe}"
    " AND ts >= {start} AND ts < {end} ORDER BY ts) TO STDOUT (FORMAT BINARY)"
)


class PostgresBarStore(BarStore):
    """Bars in ``<schema>.market_data``; the schema must be migrated (``migrate.upgrade``)."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        schema: str,
        *,
        read_parallelism: int = 2,
        rows_per_read_part: int = 100_000,
    ) -> None:
        if read_parallelism < 1 or rows_per_read_part < 1:
            raise InvalidInput(
                "read_parallelism and rows_per_read_part must be >= 1", field="read_parallelism"
            )
        self._pool = pool
        self._read_parallelism = read_parallelism
        self._rows_per_part = rows_per_read_part
        self._schema = check_schema_name(schema)
        self._table = sql.Identifier(schema, "market_data")
        self._sql = _WriteStatements.for_table(self._table)

    async def write(self, key: SeriesKey, bars: pl.DataFrame) -> int:
        incoming = prepare_write(key, bars)
        if incoming.is_empty():
            return 0
        ts = incoming.get_column("ts")
        bounds = (ts[0], ts[-1])
        params = _key_params(key)
        with storage_errors(f"write bars of {key}"):
            async with self._pool.connection() as conn, conn.transaction():
                # Writers of one series queue here, so "which ts exist" cannot change under
                # us between the statements below (other series write in parallel).
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    (f"arbx.market_data:{self._schema}:{key}",),
                )
                await conn.execute("SET LOCAL jit = off")
                cur = await conn.execute(self._sql.overlaps, (*params, *bounds))
                row = await cur.fetchone()
                if not (row and row[0]):
                    # Nothing stored in [first, last]: every row is new, COPY them in.
                    await _copy_in(conn, self._sql.copy_in, encode_bars(incoming, params))
                    return incoming.height
                await conn.execute(_CREATE_STAGING)
                await _copy_in(conn, _COPY_STAGING, encode_bars(incoming))
                cur = await conn.execute(self._sql.update_changed, (*params, *bounds))
                changed = max(cur.rowcount, 0)
                cur = await conn.execute(self._sql.insert_missing, (*params, *params))
                return changed + max(cur.rowcount, 0)

    async def read(self, key: SeriesKey, span: TimeSpan) -> pl.DataFrame:
        """One REPEATABLE READ snapshot; a large span is split in ``read_parallelism`` parts
        read at once on pooled connections that import that snapshot (``pg_export_snapshot``),
        so the parts can never straddle a concurrent write."""
        with storage_errors(f"read bars of {key}"):
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(_SNAPSHOT_READ)
                await conn.execute("SET LOCAL jit = off")
                cur = await conn.execute(
                    self._sql.bounds, (*_key_params(key), span.start, span.end)
                )
                row = await cur.fetchone()
                if row is None or row[0] is None:
                    return empty_bars()
                parts = self._split(key, span, utc(row[0]), utc(row[1]))
                if len(parts) == 1:
                    return decode_bars(await copy_out(conn, self._copy_query(conn, key, span)))
                cur = await conn.execute("SELECT pg_export_snapshot()")
                snapshot = await cur.fetchone()
                assert snapshot is not None
                frames = await asyncio.gather(
                    copy_out(conn, self._copy_query(conn, key, parts[0])),
                    *(self._read_part(str(snapshot[0]), key, part) for part in parts[1:]),
                )
                # A part whose helper connection was not free is read here, in the snapshot.
                streams = [
                    stream
                    if stream is not None
                    else await copy_out(conn, self._copy_query(conn, key, part))
                    for stream, part in zip(frames, parts, strict=True)
                ]
        return pl.concat([decode_bars(stream) for stream in streams], rechunk=True)

    def _split(
        self, key: SeriesKey, span: TimeSpan, first: datetime, last: datetime
    ) -> list[TimeSpan]:
        """Grid-aligned parts of [first, last] of about equal bar counts (at most one)."""
        step = key.timeframe.ms
        bars = (to_ms(last) - to_ms(first)) // step + 1
        parts = max(1, min(self._read_parallelism, bars // self._rows_per_part))
        if parts == 1:
            return [span]
        per_part = -(-bars // parts) * step
        end = min(to_ms(last) + step, span.end_ms)
        edges = [to_ms(first) + i * per_part for i in range(parts)] + [end]
        return [TimeSpan.from_ms(a, b) for a, b in itertools.pairwise(edges) if a < b]

    async def _read_part(self, snapshot: str, key: SeriesKey, part: TimeSpan) -> bytearray | None:
        try:
            conn = await self._pool.getconn(timeout=_HELPER_WAIT)
        except PoolTimeout:
            return None  # the pool is busy: the snapshot's own connection reads this part
        try:
            async with conn.transaction():
                await conn.execute(_SNAPSHOT_READ)
                await conn.execute(
                    sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot))
                )
                await conn.execute("SET LOCAL jit = off")
                return await copy_out(conn, self._copy_query(conn, key, part))
        finally:
            await self._pool.putconn(conn)

    def _copy_query(
        self, conn: psycopg.AsyncConnection[Any], key: SeriesKey, span: TimeSpan
    ) -> bytes:
        # COPY takes no bind parameters: the values go in as quoted literals.
        exchange, symbol, timeframe = (sql.Literal(v) for v in _key_params(key))
        return _COPY_OUT.format(
            table=self._table,
            exchange=exchange,
            symbol=symbol,
            timeframe=timeframe,
            start=sql.Literal(span.start),
            end=sql.Literal(span.end),
        ).as_bytes(conn)

    async def list_series(self) -> list[SeriesInfo]:
        query = sql.SQL(
            "SELECT exchange, symbol, timeframe, min(ts), max(ts), count(*) FROM {}"
            " GROUP BY exchange, symbol, timeframe"
        ).format(self._table)
        with storage_errors("list stored series"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(query)
                rows = await cur.fetchall()
        infos = [
            SeriesInfo(SeriesKey.of(ex, sym, tf), utc(first), utc(last), int(count))
            for ex, sym, tf, first, last, count in rows
        ]
        return sorted(infos, key=lambda info: info.key)

    async def coverage(self, key: SeriesKey, span: TimeSpan | None = None) -> list[TimeSpan]:
        # Gaps and islands: on a run of consecutive grid bars, ts - row_number * width is
        # constant, so each run is one group.
        bounds = span or TimeSpan.everything()
        query = sql.SQL(
            "SELECT min(ts), max(ts) FROM ("
            " SELECT ts, ts - row_number() OVER (ORDER BY ts) * %s::interval AS run FROM {}"
            " WHERE exchange = %s AND symbol = %s AND timeframe = %s AND ts >= %s AND ts < %s"
            ") runs GROUP BY run ORDER BY 1"
        ).format(self._table)
        params = (key.timeframe.duration, *_key_params(key), bounds.start, bounds.end)
        with storage_errors(f"compute coverage of {key}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(query, params)
                rows = await cur.fetchall()
        return [TimeSpan(utc(first), utc(last) + key.timeframe.duration) for first, last in rows]

    async def delete(self, key: SeriesKey, span: TimeSpan) -> int:
        query = sql.SQL(
            "DELETE FROM {} WHERE exchange = %s AND symbol = %s AND timeframe = %s"
            " AND ts >= %s AND ts < %s"
        ).format(self._table)
        with storage_errors(f"delete bars of {key}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(query, (*_key_params(key), span.start, span.end))
                return max(cur.rowcount, 0)

    async def ping(self) -> None:
        with storage_errors("check the bar store"):
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(self._table))


async def _copy_in(
    conn: psycopg.AsyncConnection[Any], statement: sql.Composed, payload: bytearray
) -> None:
    view = memoryview(payload)
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        for offset in range(0, len(view), _COPY_CHUNK):
            await copy.write(view[offset : offset + _COPY_CHUNK])


def _key_params(key: SeriesKey) -> tuple[str, str, str]:
    return (str(key.exchange), str(key.symbol), str(key.timeframe))


@dataclass(frozen=True, slots=True)
class _WriteStatements:
    """The statements of one write, for one table (parameters: key, then ts bounds)."""

    overlaps: sql.Composed
    copy_in: sql.Composed
    bounds: sql.Composed
    update_changed: sql.Composed
    insert_missing: sql.Composed

    @classmethod
    def for_table(cls, table: sql.Identifier) -> _WriteStatements:
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in _VALUE_COLUMNS)
        stored = sql.SQL(", ").join(
            sql.SQL("m.{}").format(sql.Identifier(c)) for c in _VALUE_COLUMNS
        )
        staged = sql.SQL(", ").join(
            sql.SQL("s.{}").format(sql.Identifier(c)) for c in _VALUE_COLUMNS
        )
        fmt = {
            "table": table,
            "staging": _STAGING,
            "cols": cols,
            "stored": stored,
            "staged": staged,
        }
        series = "exchange = %s AND symbol = %s AND timeframe = %s"
        return cls(
            overlaps=sql.SQL(
                "SELECT EXISTS (SELECT 1 FROM {table} WHERE "
                + series
                + " AND ts >= %s AND ts <= %s)"
            ).format(**fmt),
            bounds=sql.SQL(
                "SELECT min(ts), max(ts) FROM {table} WHERE " + series + " AND ts >= %s AND ts < %s"
            ).format(**fmt),
            copy_in=sql.SQL(
                "COPY {table} (exchange, symbol, timeframe, ts, {cols}) FROM STDIN (FORMAT BINARY)"
            ).format(**fmt),
            # A changed bar is new data: its quality must be judged again.
            update_changed=sql.SQL(
                "UPDATE {table} AS m SET ({cols}) = ({staged}),"
                " quality_score = NULL, is_validated = false, is_filled = false,"
                " ingested_at = now()"
                " FROM {staging} AS s"
                " WHERE m.exchange = %s AND m.symbol = %s AND m.timeframe = %s"
                " AND m.ts >= %s AND m.ts <= %s AND m.ts = s.ts"
                " AND ({stored}) IS DISTINCT FROM ({staged})"
            ).format(**fmt),
            insert_missing=sql.SQL(
                "INSERT INTO {table} (exchange, symbol, timeframe, ts, {cols})"
                " SELECT %s, %s, %s, s.ts, {staged} FROM {staging} AS s"
                " WHERE NOT EXISTS (SELECT 1 FROM {table} AS m WHERE m.exchange = %s"
                " AND m.symbol = %s AND m.timeframe = %s AND m.ts = s.ts)"
            ).format(**fmt),
        )
