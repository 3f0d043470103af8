"""StudyStore on PostgreSQL: ``studies`` and ``study_trials`` with JSONB bodies (migration
0008)."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.migrate import check_schema_name
from arbx.domain.errors import Conflict, NotFound, StorageError
from arbx.domain.research.study import Study, StudyStatus, Trial, guard
from arbx.ports.study_store import StudyStore

_STUDY = msgspec.json.Decoder(Study)
_TRIAL = msgspec.json.Decoder(Trial)
_ENCODER = msgspec.json.Encoder()


def _study(study_id: str, text: str) -> Study:
    try:
        return _STUDY.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(f"stored study {study_id!r} cannot be read: {exc}") from exc


def _trial(study_id: str, text: str) -> Trial:
    try:
        return _TRIAL.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(f"a stored trial of study {study_id!r} cannot be read: {exc}") from exc


def _text(moment: datetime) -> str:
    return _ENCODER.encode(moment).decode().strip('"')


async def list_rows(
    pool: AsyncConnectionPool,
    table: sql.Identifier,
    limit: int,
    readable_by: str | None,
    status: str | None,
) -> builtins.list[tuple[str, str]]:
    """(id, meta) of a table of long work (studies, walk-forwards), newest first."""
    where: builtins.list[sql.Composable] = []
    params: builtins.list[object] = []
    if readable_by is not None:
        where.append(sql.SQL("(owner IS NULL OR owner = %s)"))
        params.append(readable_by)
    if status is not None:
        where.append(sql.SQL("meta->>'status' = %s"))
        params.append(status)
    clause = sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
    query = sql.SQL(
        "SELECT id, meta::text FROM {} {} ORDER BY created_at DESC, id DESC LIMIT %s"
    ).format(table, clause)
    async with pool.connection() as conn:
        cur = await conn.execute(query, [*params, max(limit, 0)])
        rows = await cur.fetchall()
    return [(str(i), str(text)) for i, text in rows]


async def _exists(
    conn: AsyncConnection[Any], table: sql.Identifier, work_id: str, what: str
) -> None:
    cur = await conn.execute(sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(table), (work_id,))
    if await cur.fetchone() is None:
        raise NotFound(f"{what} {work_id!r} does not exist")


async def heartbeat(
    pool: AsyncConnectionPool,
    table: sql.Identifier,
    work_id: str,
    token: str,
    at: datetime,
    what: str,
) -> bool:
    """Renew the heartbeat of running work held by ``token`` (one conditional UPDATE)."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            sql.SQL(
                "UPDATE {} SET meta = jsonb_set(meta, '{{holder,heartbeat_at}}', to_jsonb(%s::text))"
                " WHERE id = %s AND meta->>'status' = 'running' AND meta->'holder'->>'token' = %s"
            ).format(table),
            (_text(at), work_id, token),
        )
        if cur.rowcount == 0:
            await _exists(conn, table, work_id, what)
            return False
        return True


async def interrupt(
    pool: AsyncConnectionPool,
    table: sql.Identifier,
    work_id: str,
    seen: tuple[str | None, str | None, str | None],
    at: datetime,
    error: str,
    what: str,
) -> bool:
    """Mark running work interrupted when it is still as ``seen`` (one conditional UPDATE:
    of two servers deciding at once, one marks it)."""
    token, beat, updated = seen
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            sql.SQL(
                "UPDATE {} SET meta = meta || jsonb_build_object('status', 'interrupted',"
                " 'error', %s::text, 'updated_at', %s::text)"
                " WHERE id = %s AND meta->>'status' = 'running'"
                " AND meta->'holder'->>'token' IS NOT DISTINCT FROM %s::text"
                " AND meta->'holder'->>'heartbeat_at' IS NOT DISTINCT FROM %s::text"
                " AND meta->>'updated_at' IS NOT DISTINCT FROM %s::text"
            ).format(table),
            (error, _text(at), work_id, token, beat, updated),
        )
        if cur.rowcount == 0:
            await _exists(conn, table, work_id, what)
            return False
        return True


class PostgresStudyStore(StudyStore):
    def __init__(self, pool: AsyncConnectionPool, schema: str = "arbx") -> None:
        self._pool = pool
        self._studies = sql.Identifier(check_schema_name(schema), "studies")
        self._trials = sql.Identifier(schema, "study_trials")

    async def create(self, study: Study) -> None:
        meta = _ENCODER.encode(study).decode()
        with storage_errors(f"store study {study.id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (id, created_at, owner, meta) VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (id) DO NOTHING"
                    ).format(self._studies),
                    (study.id, study.created_at, study.owner, meta),
                )
                if cur.rowcount == 0:
                    raise Conflict(f"study {study.id!r} is stored already")

    async def get(self, study_id: str) -> Study:
        with storage_errors(f"read study {study_id!r}"):
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    sql.SQL("SELECT meta::text FROM {} WHERE id = %s").format(self._studies),
                    (study_id,),
                )
                row = await cur.fetchone()
        if row is None:
            raise NotFound(f"study {study_id!r} does not exist")
        return _study(study_id, row[0])

    async def update(self, study: Study) -> None:
        meta = _ENCODER.encode(study).decode()
        with storage_errors(f"update study {study.id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    sql.SQL("UPDATE {} SET meta = %s, owner = %s WHERE id = %s").format(
                        self._studies
                    ),
                    (meta, study.owner, study.id),
                )
                if cur.rowcount == 0:
                    raise NotFound(f"study {study.id!r} does not exist")

    async def list(
        self,
        *,
        limit: int = 100,
        readable_by: str | None = None,
        status: StudyStatus | None = None,
    ) -> builtins.list[Study]:
        with storage_errors("list studies"):
            rows = await list_rows(self._pool, self._studies, limit, readable_by, status)
        return [_study(i, text) for i, text in rows]

    async def heartbeat(self, study_id: str, token: str, at: datetime) -> bool:
        with storage_errors(f"renew the heartbeat of study {study_id!r}"):
            return await heartbeat(self._pool, self._studies, study_id, token, at, "study")

    async def interrupt(self, seen: Study, at: datetime, error: str) -> bool:
        seen_as = guard(seen.holder, seen.updated_at)
        with storage_errors(f"mark study {seen.id!r} interrupted"):
            return await interrupt(self._pool, self._studies, seen.id, seen_as, at, error, "study")

    async def add_trial(self, trial: Trial) -> None:
        body = _ENCODER.encode(trial).decode()
        with storage_errors(f"store trial {trial.number} of study {trial.study_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                await self._known(conn, trial.study_id)
                cur = await conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (study_id, number, body) VALUES (%s, %s, %s)"
                        " ON CONFLICT (study_id, number) DO NOTHING"
                    ).format(self._trials),
                    (trial.study_id, trial.number, body),
                )
                if cur.rowcount == 0:
                    raise Conflict(
                        f"trial {trial.number} of study {trial.study_id!r} is stored already"
                    )

    async def _known(self, conn: AsyncConnection[Any], study_id: str) -> None:
        cur = await conn.execute(
            sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR SHARE").format(self._studies),
            (study_id,),
        )
        if await cur.fetchone() is None:
            raise NotFound(f"study {study_id!r} does not exist")

    async def trials(self, study_id: str) -> builtins.list[Trial]:
        with storage_errors(f"read the trials of study {study_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                await self._known(conn, study_id)
                cur = await conn.execute(
                    sql.SQL("SELECT body::text FROM {} WHERE study_id = %s ORDER BY number").format(
                        self._trials
                    ),
                    (study_id,),
                )
                rows = await cur.fetchall()
        return [_trial(study_id, r[0]) for r in rows]

    async def set_trial_run(self, study_id: str, number: int, run_id: str) -> None:
        with storage_errors(f"record the run of trial {number} of study {study_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    sql.SQL(
                        "UPDATE {} SET body = jsonb_set(body, '{{run_id}}', to_jsonb(%s::text))"
                        " WHERE study_id = %s AND number = %s"
                    ).format(self._trials),
                    (run_id, study_id, number),
                )
                if cur.rowcount == 0:
                    raise NotFound(f"trial {number} of study {study_id!r} does not exist")

    async def delete(self, study_id: str) -> None:
        with storage_errors(f"delete study {study_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    sql.SQL("DELETE FROM {} WHERE id = %s").format(self._studies), (study_id,)
                )
                if cur.rowcount == 0:
                    raise NotFound(f"study {study_id!r} does not exist")
