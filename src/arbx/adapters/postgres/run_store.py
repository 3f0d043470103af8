"""RunStore on PostgreSQL: ``backtest_runs`` (JSONB meta) and ``backtest_run_tables`` (one
Arrow IPC blob per result table); migration 0003 says why. A failed run is a ``backtest_runs``
row with status 'failed' and the failure as its meta (migration 0006)."""

from __future__ import annotations

import builtins
import io
from typing import Any

import msgspec
import polars as pl
import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.migrate import check_schema_name
from arbx.domain.backtest.listing import SORT_KEYS, RunQuery
from arbx.domain.backtest.run import (
    LATER_TABLES,
    TABLE_NAMES,
    BacktestRun,
    RunMeta,
    RunSummary,
    TableName,
)
from arbx.domain.errors import Conflict, NotFound, StorageError
from arbx.ports.run_store import RunFailure, RunStore

_META = msgspec.json.Decoder(RunMeta)
_FAILURE = msgspec.json.Decoder(RunFailure)
_ENCODER = msgspec.json.Encoder()


def _to_ipc(frame: pl.DataFrame) -> bytes:
    sink = io.BytesIO()
    frame.write_ipc(sink, compression="zstd")
    return sink.getvalue()


def _from_ipc(blob: bytes, run_id: str, name: str) -> pl.DataFrame:
    try:
        return pl.read_ipc(io.BytesIO(blob))
    except Exception as exc:  # polars raises several kinds for a damaged blob
        raise StorageError(
            f"table {name} of backtest run {run_id!r} cannot be read: {exc}"
        ) from exc


def _meta(run_id: str, text: str) -> RunMeta:
    try:
        return _META.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(f"stored backtest run {run_id!r} cannot be read: {exc}") from exc


class PostgresRunStore(RunStore):
    def __init__(self, pool: AsyncConnectionPool, schema: str = "arbx") -> None:
        self._pool = pool
        self._runs = sql.Identifier(check_schema_name(schema), "backtest_runs")
        self._tables = sql.Identifier(schema, "backtest_run_tables")

    async def _meta_text(
        self, conn: psycopg.AsyncConnection[Any], run_id: str, status: str
    ) -> str | None:
        """The stored metadata (JSON text) of run ``run_id`` in ``status``, or None."""
        cur = await conn.execute(
            sql.SQL("SELECT meta::text FROM {} WHERE id = %s AND status = %s").format(self._runs),
            (run_id, status),
        )
        row = await cur.fetchone()
        return None if row is None else str(row[0])

    def _insert(self) -> sql.Composed:
        return sql.SQL(
            "INSERT INTO {} (id, created_at, strategy, meta, status, owner, shared)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"
        ).format(self._runs)

    async def save(self, run: BacktestRun) -> None:
        m = run.meta
        meta = _ENCODER.encode(m).decode()
        blobs = [(run.id, name, _to_ipc(run.tables[name])) for name in TABLE_NAMES]
        with storage_errors(f"save backtest run {run.id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    self._insert(),
                    (m.id, m.created_at, m.strategy, meta, "done", m.owner, m.shared),
                )
                if cur.rowcount == 0:
                    raise Conflict(f"backtest run {run.id!r} is stored already")
                async with conn.cursor() as blob_cur:
                    await blob_cur.executemany(
                        sql.SQL("INSERT INTO {} (run_id, name, ipc) VALUES (%s, %s, %s)").format(
                            self._tables
                        ),
                        blobs,
                    )

    async def meta(self, run_id: str) -> RunMeta:
        with storage_errors(f"read backtest run {run_id!r}"):
            async with self._pool.connection() as conn:
                text = await self._meta_text(conn, run_id, "done")
        if text is None:
            raise NotFound(f"backtest run {run_id!r} does not exist")
        return _meta(run_id, text)

    async def get(self, run_id: str) -> BacktestRun:
        with storage_errors(f"read backtest run {run_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                text = await self._meta_text(conn, run_id, "done")
                if text is None:
                    raise NotFound(f"backtest run {run_id!r} does not exist")
                cur = await conn.execute(
                    sql.SQL("SELECT name, ipc FROM {} WHERE run_id = %s").format(self._tables),
                    (run_id,),
                    binary=True,
                )
                tables = await cur.fetchall()
        frames: dict[TableName, pl.DataFrame] = {}
        for name, blob in tables:
            if name in TABLE_NAMES:
                frames[name] = _from_ipc(blob, run_id, name)
        return BacktestRun(_meta(run_id, text), frames)

    async def table(self, run_id: str, name: TableName) -> pl.DataFrame:
        with storage_errors(f"read table {name} of backtest run {run_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    sql.SQL(
                        "SELECT t.ipc FROM {} AS r LEFT JOIN {} AS t"
                        " ON t.run_id = r.id AND t.name = %s WHERE r.id = %s AND r.status = 'done'"
                    ).format(self._runs, self._tables),
                    (name, run_id),
                    binary=True,
                )
                row = await cur.fetchone()
        if row is None:
            raise NotFound(f"backtest run {run_id!r} does not exist")
        if row[0] is None:
            if name in LATER_TABLES:
                return pl.DataFrame()  # a run stored before this table existed
            raise StorageError(f"backtest run {run_id!r} has no stored table {name}")
        return _from_ipc(row[0], run_id, name)

    async def list(
        self,
        *,
        strategy: str | None = None,
        limit: int = 100,
        readable_by: str | None = None,
        query: RunQuery | None = None,
    ) -> builtins.list[RunSummary]:
        q = query or RunQuery()
        where = [sql.SQL("status = 'done'")]
        params: builtins.list[object] = []
        if strategy is not None:
            where.append(sql.SQL("strategy = %s"))
            params.append(strategy)
        if readable_by is not None:
            where.append(sql.SQL("(owner IS NULL OR owner = %s OR shared)"))
            params.append(readable_by)
        series = "SELECT 1 FROM jsonb_array_elements(meta->'series') AS s WHERE "
        if q.series is not None:
            where.append(sql.SQL(f"EXISTS ({series}s->>'series' = %s)"))
            params.append(q.series)
        if q.venue is not None:
            where.append(sql.SQL(f"EXISTS ({series}left(s->>'series', %s) = %s)"))
            params += [len(q.venue) + 1, q.venue + ":"]
        if q.start is not None:
            where.append(sql.SQL("(meta->>'span_end')::timestamptz > %s"))
            params.append(q.start)
        if q.end is not None:
            where.append(sql.SQL("(meta->>'span_start')::timestamptz < %s"))
            params.append(q.end)
        path = SORT_KEYS[q.sort]
        order = sql.SQL("ASC" if q.order == "asc" else "DESC")
        first = (
            sql.SQL("created_at {}").format(order)
            if path is None
            else sql.SQL("(meta #>> {})::double precision {} NULLS LAST").format(
                sql.Literal("{" + ",".join(path) + "}"), order
            )
        )
        statement = sql.SQL(
            "SELECT id, meta::text FROM {} WHERE {} ORDER BY {}, created_at DESC, id DESC"
            " LIMIT %s OFFSET %s"
        ).format(self._runs, sql.SQL(" AND ").join(where), first)
        with storage_errors("list backtest runs"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(statement, [*params, max(limit, 0), q.offset])
                rows = await cur.fetchall()
        return [BacktestRun(_meta(run_id, text), {}).summary() for run_id, text in rows]

    async def delete(self, run_id: str) -> None:
        with storage_errors(f"delete backtest run {run_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    sql.SQL("DELETE FROM {} WHERE id = %s AND status = 'done'").format(self._runs),
                    (run_id,),
                )
                if cur.rowcount == 0:
                    raise NotFound(f"backtest run {run_id!r} does not exist")

    async def record_failure(self, failure: RunFailure) -> None:
        f = failure
        text = _ENCODER.encode(f).decode()
        with storage_errors(f"record the failure of backtest run {f.id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    self._insert(),
                    (f.id, f.created_at, f.strategy, text, "failed", f.owner, f.shared),
                )
                if cur.rowcount == 0:
                    raise Conflict(f"backtest run {f.id!r} is stored already")

    async def failure(self, run_id: str) -> RunFailure:
        with storage_errors(f"read the failure of backtest run {run_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                text = await self._meta_text(conn, run_id, "failed")
        if text is None:
            raise NotFound(f"no failed backtest run {run_id!r} is recorded")
        try:
            return _FAILURE.decode(text)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise StorageError(f"stored backtest failure {run_id!r} cannot be read: {exc}") from exc

    async def failures(
        self,
        *,
        strategy: str | None = None,
        readable_by: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> builtins.list[RunFailure]:
        where = [sql.SQL("status = 'failed'")]
        params: builtins.list[object] = []
        if strategy is not None:
            where.append(sql.SQL("strategy = %s"))
            params.append(strategy)
        if readable_by is not None:
            where.append(sql.SQL("(owner IS NULL OR owner = %s OR shared)"))
            params.append(readable_by)
        order = sql.SQL("DESC" if newest_first else "ASC")
        statement = sql.SQL(
            "SELECT id, meta::text FROM {} WHERE {} ORDER BY created_at {}, id {}"
            " LIMIT %s OFFSET %s"
        ).format(self._runs, sql.SQL(" AND ").join(where), order, order)
        params += [None if limit is None else max(limit, 0), max(offset, 0)]
        with storage_errors("list the failed backtest runs"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(statement, params)
                rows = await cur.fetchall()
        found = []
        for run_id, meta in rows:
            try:
                found.append(_FAILURE.decode(meta))
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise StorageError(
                    f"stored backtest failure {run_id!r} cannot be read: {exc}"
                ) from exc
        return found

    async def ping(self) -> None:
        with storage_errors("check the run store"):
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(self._runs))
