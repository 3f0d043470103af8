"""StudyStore on PostgreSQL: ``studies`` and ``study_trials`` with JSONB bodies (migration
0008)."""

from __future__ import annotations

import builtins
from typing import Any

import msgspec
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.migrate import check_schema_name
from arbx.domain.errors import Conflict, NotFound, StorageError
from arbx.domain.research.study import Study, Trial
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
        self, *, limit: int = 100, readable_by: str | None = None
    ) -> builtins.list[Study]:
        where = sql.SQL("")
        params: builtins.list[object] = []
        if readable_by is not None:
            where = sql.SQL("WHERE owner IS NULL OR owner = %s")
            params.append(readable_by)
        query = sql.SQL(
            "SELECT id, meta::text FROM {} {} ORDER BY created_at DESC, id DESC LIMIT %s"
        ).format(self._studies, where)
        with storage_errors("list studies"):
            async with self._pool.connection() as conn:
                cur = await conn.execute(query, [*params, max(limit, 0)])
                rows = await cur.fetchall()
        return [_study(i, text) for i, text in rows]

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
