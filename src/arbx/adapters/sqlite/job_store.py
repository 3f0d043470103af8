"""JobStore on SQLite (tables ``jobs`` and ``job_runs`` from migration 0004_jobs)."""

from __future__ import annotations

import builtins
import sqlite3
from datetime import datetime

import msgspec

from arbx.adapters.sqlite.codecs import from_micros, to_micros
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.domain.errors import Conflict, NotFound, StorageError
from arbx.domain.jobs import JobDefinition, JobRun, RunStatus, RunTrigger
from arbx.ports.job_store import INTERRUPTED, JobStore

_RUN_COLUMNS = "id, job_id, attempt, trigger, status, started_at, finished_at, bars_written, error"
_DECODER = msgspec.json.Decoder(JobDefinition)
_ENCODER = msgspec.json.Encoder()


def _job(row: sqlite3.Row) -> JobDefinition:
    try:
        return _DECODER.decode(row["definition"])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(f"stored job {row['id']!r} cannot be read: {exc}") from exc


def _job_params(job: JobDefinition) -> tuple[object, ...]:
    return (
        job.name,
        job.kind.value,
        job.origin.value,
        int(job.paused),
        _ENCODER.encode(job).decode(),
        to_micros(job.created_at),
        to_micros(job.updated_at),
        job.id,
    )


def _run(row: sqlite3.Row) -> JobRun:
    finished = row["finished_at"]
    return JobRun(
        id=row["id"],
        job_id=row["job_id"],
        attempt=row["attempt"],
        trigger=RunTrigger(row["trigger"]),
        status=RunStatus(row["status"]),
        started_at=from_micros(row["started_at"]),
        finished_at=None if finished is None else from_micros(finished),
        bars_written=row["bars_written"],
        error=row["error"],
    )


def _get(conn: sqlite3.Connection, job_id: str) -> JobDefinition:
    row = conn.execute("SELECT id, definition FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise NotFound(f"job {job_id!r} does not exist")
    return _job(row)


def _get_run(conn: sqlite3.Connection, run_id: str) -> JobRun:
    row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM job_runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise NotFound(f"job run {run_id!r} does not exist")
    return _run(row)


def _name_taken(conn: sqlite3.Connection, job: JobDefinition) -> Conflict:
    row = conn.execute("SELECT id FROM jobs WHERE name = ?", (job.name,)).fetchone()
    if row is not None and row["id"] != job.id:
        return Conflict(f"job name {job.name!r} is taken by job {row['id']!r}")
    return Conflict(f"job id {job.id!r} exists already")


class SqliteJobStore(JobStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def save(self, job: JobDefinition) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO jobs (name, kind, origin, paused, definition, created_at,"
                    " updated_at, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    _job_params(job),
                )
            except sqlite3.IntegrityError as exc:
                raise _name_taken(conn, job) from exc

        await self._db.run(insert)

    async def get(self, job_id: str) -> JobDefinition:
        return await self._db.run(lambda conn: _get(conn, job_id))

    async def list(self) -> builtins.list[JobDefinition]:
        rows = await self._db.run(
            lambda conn: conn.execute(
                "SELECT id, definition FROM jobs ORDER BY created_at, id"
            ).fetchall()
        )
        return [_job(row) for row in rows]

    async def update(self, job: JobDefinition) -> None:
        def change(conn: sqlite3.Connection) -> None:
            _get(conn, job.id)
            try:
                conn.execute(
                    "UPDATE jobs SET name = ?, kind = ?, origin = ?, paused = ?, definition = ?,"
                    " created_at = ?, updated_at = ? WHERE id = ?",
                    _job_params(job),
                )
            except sqlite3.IntegrityError as exc:
                raise _name_taken(conn, job) from exc

        await self._db.run(change)

    async def delete(self, job_id: str) -> None:
        def remove(conn: sqlite3.Connection) -> None:
            if conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount == 0:
                raise NotFound(f"job {job_id!r} does not exist")

        await self._db.run(remove)

    async def start_run(self, run: JobRun) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            _get(conn, run.job_id)
            try:
                conn.execute(
                    f"INSERT INTO job_runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run.id,
                        run.job_id,
                        run.attempt,
                        run.trigger.value,
                        run.status.value,
                        to_micros(run.started_at),
                        None if run.finished_at is None else to_micros(run.finished_at),
                        run.bars_written,
                        run.error,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"run id {run.id!r} exists already") from exc

        await self._db.run(insert)

    async def finish_run(self, run: JobRun) -> JobRun:
        def change(conn: sqlite3.Connection) -> JobRun:
            stored = _get_run(conn, run.id)
            if not stored.is_running:
                raise Conflict(f"run {run.id!r} finished already ({stored.status.value})")
            finished = stored.finish(
                run.status,
                at=run.finished_at or stored.started_at,
                bars_written=run.bars_written,
                error=run.error,
            )
            assert finished.finished_at is not None
            conn.execute(
                "UPDATE job_runs SET status = ?, finished_at = ?, bars_written = ?, error = ?"
                " WHERE id = ?",
                (
                    finished.status.value,
                    to_micros(finished.finished_at),
                    finished.bars_written,
                    finished.error,
                    finished.id,
                ),
            )
            return finished

        return await self._db.run(change)

    async def get_run(self, run_id: str) -> JobRun:
        return await self._db.run(lambda conn: _get_run(conn, run_id))

    async def list_runs(
        self, job_id: str | None = None, *, limit: int = 100
    ) -> builtins.list[JobRun]:
        def select(conn: sqlite3.Connection) -> builtins.list[sqlite3.Row]:
            order = "ORDER BY started_at DESC, id DESC LIMIT ?"
            if job_id is None:
                sql = f"SELECT {_RUN_COLUMNS} FROM job_runs {order}"
                return conn.execute(sql, (max(limit, 0),)).fetchall()
            sql = f"SELECT {_RUN_COLUMNS} FROM job_runs WHERE job_id = ? {order}"
            return conn.execute(sql, (job_id, max(limit, 0))).fetchall()

        return [_run(row) for row in await self._db.run(select)]

    async def mark_interrupted_runs(self, at: datetime) -> int:
        stamp = to_micros(at)

        def mark(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "UPDATE job_runs SET status = 'cancelled', error = ?,"
                " finished_at = max(started_at, ?) WHERE status = 'running'",
                (INTERRUPTED, stamp),
            )
            return cursor.rowcount

        return await self._db.run(mark)
