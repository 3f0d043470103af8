"""WalkForwardStore on PostgreSQL: ``walk_forwards`` and ``walk_forward_folds`` with JSONB
bodies (migration 0016)."""

from __future__ import annotations

import builtins
from datetime import datetime

import msgspec
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.migrate import check_schema_name
from arbx.adapters.postgres.study_store import heartbeat, interrupt, list_rows
from arbx.domain.errors import Conflict, NotFound, StorageError
from arbx.domain.research.study import guard
from arbx.domain.research.walk_forward import WalkForwardFold, WalkForwardStatus, WalkForwardStudy
from arbx.ports.walk_forward_store import WalkForwardStore

_WF = msgspec.json.Decoder(WalkForwardStudy)
_FOLD = msgspec.json.Decoder(WalkForwardFold)
_ENCODER = msgspec.json.Encoder()
_WHAT = "walk-forward"


def _wf(wf_id: str, text: str) -> WalkForwardStudy:
    try:
        return _WF.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(f"stored walk-forward {wf_id!r} cannot be read: {exc}") from exc


def _fold(wf_id: str, text: str) -> WalkForwardFold:
    try:
        return _FOLD.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(
            f"a stored fold of walk-forward {wf_id!r} cannot be read: {exc}"
        ) from exc


class PostgresWalkForwardStore(WalkForwardStore):
    def __init__(self, pool: AsyncConnectionPool, schema: str = "arbx") -> None:
        self._pool = pool
        self._wfs = sql.Identifier(check_schema_name(schema), "walk_forwards")
        self._folds = sql.Identifier(schema, "walk_forward_folds")

    async def create(self, wf: WalkForwardStudy) -> None:
        meta = _ENCODER.encode(wf).decode()
        with storage_errors(f"store walk-forward {wf.id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (id, created_at, owner, meta) VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (id) DO NOTHING"
                    ).format(self._wfs),
                    (wf.id, wf.created_at, wf.owner, meta),
                )
                if cur.rowcount == 0:
                    raise Conflict(f"walk-forward {wf.id!r} is stored already")

    async def get(self, wf_id: str) -> WalkForwardStudy:
        with storage_errors(f"read walk-forward {wf_id!r}"):
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    sql.SQL("SELECT meta::text FROM {} WHERE id = %s").format(self._wfs), (wf_id,)
                )
                row = await cur.fetchone()
        if row is None:
            raise NotFound(f"walk-forward {wf_id!r} does not exist")
        return _wf(wf_id, row[0])

    async def update(self, wf: WalkForwardStudy) -> None:
        meta = _ENCODER.encode(wf).decode()
        with storage_errors(f"update walk-forward {wf.id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    sql.SQL("UPDATE {} SET meta = %s, owner = %s WHERE id = %s").format(self._wfs),
                    (meta, wf.owner, wf.id),
                )
                if cur.rowcount == 0:
                    raise NotFound(f"walk-forward {wf.id!r} does not exist")

    async def list(
        self,
        *,
        limit: int = 100,
        readable_by: str | None = None,
        status: WalkForwardStatus | None = None,
    ) -> builtins.list[WalkForwardStudy]:
        with storage_errors("list walk-forwards"):
            rows = await list_rows(self._pool, self._wfs, limit, readable_by, status)
        return [_wf(i, text) for i, text in rows]

    async def add_fold(self, fold: WalkForwardFold) -> None:
        body = _ENCODER.encode(fold).decode()
        wf_id, index = fold.walk_forward_id, fold.fold.index
        with storage_errors(f"store fold {index} of walk-forward {wf_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR SHARE").format(self._wfs), (wf_id,)
                )
                if await cur.fetchone() is None:
                    raise NotFound(f"walk-forward {wf_id!r} does not exist")
                cur = await conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (walk_forward_id, fold, body) VALUES (%s, %s, %s)"
                        " ON CONFLICT (walk_forward_id, fold) DO NOTHING"
                    ).format(self._folds),
                    (wf_id, index, body),
                )
                if cur.rowcount == 0:
                    raise Conflict(f"fold {index} of walk-forward {wf_id!r} is stored already")

    async def folds(self, wf_id: str) -> builtins.list[WalkForwardFold]:
        with storage_errors(f"read the folds of walk-forward {wf_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(self._wfs), (wf_id,)
                )
                if await cur.fetchone() is None:
                    raise NotFound(f"walk-forward {wf_id!r} does not exist")
                cur = await conn.execute(
                    sql.SQL(
                        "SELECT body::text FROM {} WHERE walk_forward_id = %s ORDER BY fold"
                    ).format(self._folds),
                    (wf_id,),
                )
                rows = await cur.fetchall()
        return [_fold(wf_id, r[0]) for r in rows]

    async def heartbeat(self, wf_id: str, token: str, at: datetime) -> bool:
        with storage_errors(f"renew the heartbeat of walk-forward {wf_id!r}"):
            return await heartbeat(self._pool, self._wfs, wf_id, token, at, _WHAT)

    async def interrupt(self, seen: WalkForwardStudy, at: datetime, error: str) -> bool:
        seen_as = guard(seen.holder, seen.updated_at)
        with storage_errors(f"mark walk-forward {seen.id!r} interrupted"):
            return await interrupt(self._pool, self._wfs, seen.id, seen_as, at, error, _WHAT)

    async def delete(self, wf_id: str) -> None:
        with storage_errors(f"delete walk-forward {wf_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    sql.SQL("DELETE FROM {} WHERE id = %s").format(self._wfs), (wf_id,)
                )
                if cur.rowcount == 0:
                    raise NotFound(f"walk-forward {wf_id!r} does not exist")
