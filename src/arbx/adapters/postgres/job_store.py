"""JobStore on PostgreSQL: ``jobs`` (the definition as JSONB) and ``job_runs`` (0004_jobs)."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.codecs import as_utc, maybe_utc
from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.identifiers import SchemaTables
from arbx.domain.errors import Conflict, NotFound, StorageError
from arbx.domain.jobs import JobDefinition, JobRun, RunStatus, RunTrigger
from arbx.ports.job_store import INTERRUPTED, JobStore

Conn = psycopg.AsyncConnection[Any]

_RUN_COLUMNS = "id, job_id, attempt, trigger, status, started_at, finished_at, bars_written, error"
_DECODER = msgspec.json.Decoder(JobDefinition)
_ENCODER = msgspec.json.Encoder()


def _job(job_id: str, text: str) -> JobDefinition:
    try:
        return _DECODER.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(f"stored job {job_id!r} cannot be read: {exc}") from exc


def _job_params(job: JobDefinition) -> tuple[object, ...]:
    return (
        job.name,
        job.kind.value,
        job.origin.value,
        job.paused,
        _ENCODER.encode(job).decode(),
        job.created_at,
        job.updated_at,
        job.id,
    )


def _run(row: tuple[Any, ...]) -> JobRun:
    run_id, job_id, attempt, trigger, status, started, finished, bars, error = row
    return JobRun(
        id=run_id,
        job_id=job_id,
        attempt=int(attempt),
        trigger=RunTrigger(trigger),
        status=RunStatus(status),
        started_at=as_utc(started),
        finished_at=maybe_utc(finished),
        bars_written=int(bars),
        error=error,
    )


def _taken(job: JobDefinition, exc: psycopg.errors.UniqueViolation) -> Conflict:
    if exc.diag.constraint_name == "jobs_name_key":
        return Conflict(f"job name {job.name!r} is taken by another job")
    return Conflict(f"job id {job.id!r} exists already")


class PostgresJobStore(JobStore):
    def __init__(self, pool: AsyncConnectionPool, schema: str) -> None:
        self._pool = pool
        self._t = SchemaTables(schema, "jobs", "job_runs")

    async def save(self, job: JobDefinition) -> None:
        with storage_errors(f"save job {job.id!r}"):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    await conn.execute(
                        self._t.sql(
                            "INSERT INTO {jobs} (name, kind, origin, paused, definition,"
                            " created_at, updated_at, id) VALUES (%s, %s, %s, %s, %s::jsonb,"
                            " %s, %s, %s)"
                        ),
                        _job_params(job),
                    )
            except psycopg.errors.UniqueViolation as exc:
                raise _taken(job, exc) from exc

    async def get(self, job_id: str) -> JobDefinition:
        rows = await self._fetch(
            f"read job {job_id!r}",
            "SELECT id, definition::text FROM {jobs} WHERE id = %s",
            [job_id],
        )
        if not rows:
            raise NotFound(f"job {job_id!r} does not exist")
        return _job(*rows[0])

    async def list(self) -> builtins.list[JobDefinition]:
        rows = await self._fetch(
            "list jobs", "SELECT id, definition::text FROM {jobs} ORDER BY created_at, id", []
        )
        return [_job(*row) for row in rows]

    async def update(self, job: JobDefinition) -> None:
        with storage_errors(f"update job {job.id!r}"):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    cur = await conn.execute(
                        self._t.sql(
                            "UPDATE {jobs} SET name = %s, kind = %s, origin = %s, paused = %s,"
                            " definition = %s::jsonb, created_at = %s, updated_at = %s"
                            " WHERE id = %s"
                        ),
                        _job_params(job),
                    )
                    if cur.rowcount == 0:
                        raise NotFound(f"job {job.id!r} does not exist")
            except psycopg.errors.UniqueViolation as exc:
                raise _taken(job, exc) from exc

    async def delete(self, job_id: str) -> None:
        with storage_errors(f"delete job {job_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(self._t.sql("DELETE FROM {jobs} WHERE id = %s"), (job_id,))
                if cur.rowcount == 0:
                    raise NotFound(f"job {job_id!r} does not exist")

    async def start_run(self, run: JobRun) -> None:
        with storage_errors(f"record run {run.id!r} of job {run.job_id!r}"):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    await conn.execute(
                        self._t.sql(
                            "INSERT INTO {job_runs} (" + _RUN_COLUMNS + ")"
                            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                        ),
                        (
                            run.id,
                            run.job_id,
                            run.attempt,
                            run.trigger.value,
                            run.status.value,
                            run.started_at,
                            run.finished_at,
                            run.bars_written,
                            run.error,
                        ),
                    )
            except psycopg.errors.ForeignKeyViolation as exc:
                raise NotFound(f"job {run.job_id!r} does not exist") from exc
            except psycopg.errors.UniqueViolation as exc:
                raise Conflict(f"run id {run.id!r} exists already") from exc

    async def finish_run(self, run: JobRun) -> JobRun:
        with storage_errors(f"finish run {run.id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    self._t.sql(
                        "SELECT " + _RUN_COLUMNS + " FROM {job_runs} WHERE id = %s FOR UPDATE"
                    ),
                    (run.id,),
                )
                row = await cur.fetchone()
                if row is None:
                    raise NotFound(f"job run {run.id!r} does not exist")
                stored = _run(row)
                if not stored.is_running:
                    raise Conflict(f"run {run.id!r} finished already ({stored.status.value})")
                finished = stored.finish(
                    run.status,
                    at=run.finished_at or stored.started_at,
                    bars_written=run.bars_written,
                    error=run.error,
                )
                await conn.execute(
                    self._t.sql(
                        "UPDATE {job_runs} SET status = %s, finished_at = %s, bars_written = %s,"
                        " error = %s WHERE id = %s"
                    ),
                    (
                        finished.status.value,
                        finished.finished_at,
                        finished.bars_written,
                        finished.error,
                        finished.id,
                    ),
                )
        return finished

    async def get_run(self, run_id: str) -> JobRun:
        rows = await self._fetch(
            f"read job run {run_id!r}",
            "SELECT " + _RUN_COLUMNS + " FROM {job_runs} WHERE id = %s",
            [run_id],
        )
        if not rows:
            raise NotFound(f"job run {run_id!r} does not exist")
        return _run(rows[0])

    async def list_runs(
        self, job_id: str | None = None, *, limit: int = 100
    ) -> builtins.list[JobRun]:
        where = "" if job_id is None else " WHERE job_id = %s"
        params: builtins.list[object] = [] if job_id is None else [job_id]
        rows = await self._fetch(
            "list job runs",
            "SELECT "
            + _RUN_COLUMNS
            + " FROM {job_runs}"
            + where
            + " ORDER BY started_at DESC, id DESC LIMIT %s",
            [*params, max(limit, 0)],
        )
        return [_run(row) for row in rows]

    async def mark_interrupted_runs(self, at: datetime) -> int:
        with storage_errors("mark interrupted job runs"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    self._t.sql(
                        "UPDATE {job_runs} SET status = 'cancelled', error = %s,"
                        " finished_at = greatest(started_at, %s) WHERE status = 'running'"
                    ),
                    (INTERRUPTED, at),
                )
                return cur.rowcount

    async def _fetch(
        self, action: str, text: str, params: builtins.list[object]
    ) -> builtins.list[tuple[Any, ...]]:
        with storage_errors(action):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(self._t.sql(text), params)
                return await cur.fetchall()
