"""RunStore on SQLite (tables ``backtest_runs`` and ``backtest_run_tables``, migrations 0003
and 0006).

Run metadata is JSON; each result table is an Arrow IPC blob (see the migration for why). A
failed run is a ``backtest_runs`` row with status 'failed' and the failure as its JSON.
"""

from __future__ import annotations

import builtins
import io
import sqlite3
from datetime import UTC, datetime, timedelta

import msgspec
import polars as pl

from arbx.adapters.sqlite.database import SqliteDatabase
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

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_META = msgspec.json.Decoder(RunMeta)
_FAILURE = msgspec.json.Decoder(RunFailure)
_ENCODER = msgspec.json.Encoder()


def _iso(moment: datetime) -> str:
    """A time as SQLite's julianday() reads it (UTC, no offset suffix)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICRO


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


def _meta(row: sqlite3.Row) -> RunMeta:
    try:
        return _META.decode(row["meta"])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(f"stored backtest run {row['id']!r} cannot be read: {exc}") from exc


def _exists(conn: sqlite3.Connection, run_id: str) -> None:
    found = conn.execute(
        "SELECT 1 FROM backtest_runs WHERE id = ? AND status = 'done'", (run_id,)
    ).fetchone()
    if found is None:
        raise NotFound(f"backtest run {run_id!r} does not exist")


def _insert(
    conn: sqlite3.Connection,
    run_id: str,
    created_at: datetime,
    strategy: str,
    meta: str,
    *,
    status: str,
    owner: str | None,
    shared: bool,
) -> None:
    try:
        conn.execute(
            "INSERT INTO backtest_runs (id, created_at, strategy, meta, status, owner, shared)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, _micros(created_at), strategy, meta, status, owner, int(shared)),
        )
    except sqlite3.IntegrityError:
        raise Conflict(f"backtest run {run_id!r} is stored already") from None


class SqliteRunStore(RunStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def save(self, run: BacktestRun) -> None:
        meta = _ENCODER.encode(run.meta).decode()
        blobs = [(run.id, name, _to_ipc(run.tables[name])) for name in TABLE_NAMES]

        def write(conn: sqlite3.Connection) -> None:
            m = run.meta
            _insert(
                conn,
                m.id,
                m.created_at,
                m.strategy,
                meta,
                status="done",
                owner=m.owner,
                shared=m.shared,
            )
            conn.executemany(
                "INSERT INTO backtest_run_tables (run_id, name, ipc) VALUES (?, ?, ?)", blobs
            )

        await self._db.run(write)

    async def get(self, run_id: str) -> BacktestRun:
        def read(conn: sqlite3.Connection) -> tuple[sqlite3.Row, list[sqlite3.Row]]:
            row = conn.execute(
                "SELECT id, meta FROM backtest_runs WHERE id = ? AND status = 'done'", (run_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"backtest run {run_id!r} does not exist")
            tables = conn.execute(
                "SELECT name, ipc FROM backtest_run_tables WHERE run_id = ?", (run_id,)
            ).fetchall()
            return row, tables

        row, tables = await self._db.run(read)
        frames: dict[TableName, pl.DataFrame] = {}
        for table in tables:
            name = table["name"]
            if name in TABLE_NAMES:
                frames[name] = _from_ipc(table["ipc"], run_id, name)
        return BacktestRun(_meta(row), frames)

    async def meta(self, run_id: str) -> RunMeta:
        def read(conn: sqlite3.Connection) -> sqlite3.Row:
            row: sqlite3.Row | None = conn.execute(
                "SELECT id, meta FROM backtest_runs WHERE id = ? AND status = 'done'", (run_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"backtest run {run_id!r} does not exist")
            return row

        return _meta(await self._db.run(read))

    async def table(self, run_id: str, name: TableName) -> pl.DataFrame:
        def read(conn: sqlite3.Connection) -> bytes | None:
            _exists(conn, run_id)
            row = conn.execute(
                "SELECT ipc FROM backtest_run_tables WHERE run_id = ? AND name = ?", (run_id, name)
            ).fetchone()
            if row is None:
                if name in LATER_TABLES:
                    return None  # a run stored before this table existed
                raise StorageError(f"backtest run {run_id!r} has no stored table {name}")
            return bytes(row["ipc"])

        blob = await self._db.run(read)
        return pl.DataFrame() if blob is None else _from_ipc(blob, run_id, name)

    async def list(
        self,
        *,
        strategy: str | None = None,
        limit: int = 100,
        readable_by: str | None = None,
        query: RunQuery | None = None,
    ) -> builtins.list[RunSummary]:
        q = query or RunQuery()
        where = ["status = 'done'"]
        params: builtins.list[object] = []
        if strategy is not None:
            where.append("strategy = ?")
            params.append(strategy)
        if readable_by is not None:
            where.append("(owner IS NULL OR owner = ? OR shared = 1)")
            params.append(readable_by)
        series = "SELECT 1 FROM json_each(backtest_runs.meta, '$.series') AS s WHERE "
        if q.series is not None:
            where.append(f"EXISTS ({series}json_extract(s.value, '$.series') = ?)")
            params.append(q.series)
        if q.venue is not None:
            where.append(f"EXISTS ({series}substr(json_extract(s.value, '$.series'), 1, ?) = ?)")
            params += [len(q.venue) + 1, q.venue + ":"]
        if q.start is not None:
            where.append("julianday(json_extract(meta, '$.span_end')) > julianday(?)")
            params.append(_iso(q.start))
        if q.end is not None:
            where.append("julianday(json_extract(meta, '$.span_start')) < julianday(?)")
            params.append(_iso(q.end))
        path = SORT_KEYS[q.sort]
        order = "ASC" if q.order == "asc" else "DESC"
        first = (
            f"created_at {order}"
            if path is None
            else f"json_extract(meta, '$.{'.'.join(path)}') {order} NULLS LAST"
        )
        sql = (
            f"SELECT id, meta FROM backtest_runs WHERE {' AND '.join(where)}"
            f" ORDER BY {first}, created_at DESC, id DESC LIMIT ? OFFSET ?"
        )

        def read(conn: sqlite3.Connection) -> builtins.list[sqlite3.Row]:
            return conn.execute(sql, (*params, max(limit, 0), q.offset)).fetchall()

        rows = await self._db.run(read)
        return [BacktestRun(_meta(row), {}).summary() for row in rows]

    async def delete(self, run_id: str) -> None:
        def remove(conn: sqlite3.Connection) -> None:
            deleted = conn.execute(
                "DELETE FROM backtest_runs WHERE id = ? AND status = 'done'", (run_id,)
            ).rowcount
            if deleted == 0:
                raise NotFound(f"backtest run {run_id!r} does not exist")

        await self._db.run(remove)

    async def record_failure(self, failure: RunFailure) -> None:
        text = _ENCODER.encode(failure).decode()

        def write(conn: sqlite3.Connection) -> None:
            _insert(
                conn,
                failure.id,
                failure.created_at,
                failure.strategy,
                text,
                status="failed",
                owner=failure.owner,
                shared=failure.shared,
            )

        await self._db.run(write)

    async def failure(self, run_id: str) -> RunFailure:
        def read(conn: sqlite3.Connection) -> sqlite3.Row | None:
            row: sqlite3.Row | None = conn.execute(
                "SELECT meta FROM backtest_runs WHERE id = ? AND status = 'failed'", (run_id,)
            ).fetchone()
            return row

        row = await self._db.run(read)
        if row is None:
            raise NotFound(f"no failed backtest run {run_id!r} is recorded")
        try:
            return _FAILURE.decode(row["meta"])
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
        where = ["status = 'failed'"]
        params: builtins.list[object] = []
        if strategy is not None:
            where.append("strategy = ?")
            params.append(strategy)
        if readable_by is not None:
            where.append("(owner IS NULL OR owner = ? OR shared = 1)")
            params.append(readable_by)
        order = "DESC" if newest_first else "ASC"
        sql = (
            f"SELECT id, meta FROM backtest_runs WHERE {' AND '.join(where)}"
            f" ORDER BY created_at {order}, id {order} LIMIT ? OFFSET ?"
        )
        page = -1 if limit is None else max(limit, 0)

        def read(conn: sqlite3.Connection) -> builtins.list[sqlite3.Row]:
            return conn.execute(sql, (*params, page, max(offset, 0))).fetchall()

        found = []
        for row in await self._db.run(read):
            try:
                found.append(_FAILURE.decode(row["meta"]))
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise StorageError(
                    f"stored backtest failure {row['id']!r} cannot be read: {exc}"
                ) from exc
        return found

    async def ping(self) -> None:
        await self._db.ping()
