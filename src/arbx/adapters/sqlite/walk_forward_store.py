"""WalkForwardStore on SQLite (tables ``walk_forwards`` and ``walk_forward_folds``, migration
0016): a walk-forward's and a fold's JSON beside the columns the store filters and sorts on."""

from __future__ import annotations

import builtins
import sqlite3
from datetime import UTC, datetime, timedelta

import msgspec

from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.adapters.sqlite.study_store import heartbeat, interrupt, list_rows
from arbx.domain.errors import Conflict, NotFound, StorageError
from arbx.domain.research.study import guard
from arbx.domain.research.walk_forward import WalkForwardFold, WalkForwardStatus, WalkForwardStudy
from arbx.ports.walk_forward_store import WalkForwardStore

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_WF = msgspec.json.Decoder(WalkForwardStudy)
_FOLD = msgspec.json.Decoder(WalkForwardFold)
_ENCODER = msgspec.json.Encoder()
_TABLE = "walk_forwards"


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


def _known(conn: sqlite3.Connection, wf_id: str) -> None:
    if conn.execute("SELECT 1 FROM walk_forwards WHERE id = ?", (wf_id,)).fetchone() is None:
        raise NotFound(f"walk-forward {wf_id!r} does not exist")


class SqliteWalkForwardStore(WalkForwardStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def create(self, wf: WalkForwardStudy) -> None:
        meta = _ENCODER.encode(wf).decode()
        micros = (wf.created_at - _EPOCH) // _MICRO

        def write(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO walk_forwards (id, created_at, owner, meta) VALUES (?, ?, ?, ?)",
                    (wf.id, micros, wf.owner, meta),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"walk-forward {wf.id!r} is stored already") from None

        await self._db.run(write)

    async def get(self, wf_id: str) -> WalkForwardStudy:
        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT meta FROM walk_forwards WHERE id = ?", (wf_id,)).fetchone()
            return None if row is None else str(row[0])

        text = await self._db.run(read)
        if text is None:
            raise NotFound(f"walk-forward {wf_id!r} does not exist")
        return _wf(wf_id, text)

    async def update(self, wf: WalkForwardStudy) -> None:
        meta = _ENCODER.encode(wf).decode()

        def write(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE walk_forwards SET meta = ?, owner = ? WHERE id = ?", (meta, wf.owner, wf.id)
            )
            if cur.rowcount == 0:
                raise NotFound(f"walk-forward {wf.id!r} does not exist")

        await self._db.run(write)

    async def list(
        self,
        *,
        limit: int = 100,
        readable_by: str | None = None,
        status: WalkForwardStatus | None = None,
    ) -> builtins.list[WalkForwardStudy]:
        rows = await self._db.run(lambda conn: list_rows(conn, _TABLE, limit, readable_by, status))
        return [_wf(i, text) for i, text in rows]

    async def add_fold(self, fold: WalkForwardFold) -> None:
        body = _ENCODER.encode(fold).decode()
        wf_id, index = fold.walk_forward_id, fold.fold.index

        def write(conn: sqlite3.Connection) -> None:
            _known(conn, wf_id)
            try:
                conn.execute(
                    "INSERT INTO walk_forward_folds (walk_forward_id, fold, body) VALUES (?, ?, ?)",
                    (wf_id, index, body),
                )
            except sqlite3.IntegrityError:
                raise Conflict(
                    f"fold {index} of walk-forward {wf_id!r} is stored already"
                ) from None

        await self._db.run(write)

    async def folds(self, wf_id: str) -> builtins.list[WalkForwardFold]:
        def read(conn: sqlite3.Connection) -> builtins.list[str]:
            _known(conn, wf_id)
            rows = conn.execute(
                "SELECT body FROM walk_forward_folds WHERE walk_forward_id = ? ORDER BY fold",
                (wf_id,),
            ).fetchall()
            return [str(r[0]) for r in rows]

        return [_fold(wf_id, text) for text in await self._db.run(read)]

    async def heartbeat(self, wf_id: str, token: str, at: datetime) -> bool:
        return await self._db.run(lambda conn: heartbeat(conn, _TABLE, wf_id, token, at))

    async def interrupt(self, seen: WalkForwardStudy, at: datetime, error: str) -> bool:
        seen_as = guard(seen.holder, seen.updated_at)
        return await self._db.run(lambda conn: interrupt(conn, _TABLE, seen.id, seen_as, at, error))

    async def delete(self, wf_id: str) -> None:
        def write(conn: sqlite3.Connection) -> None:
            if conn.execute("DELETE FROM walk_forwards WHERE id = ?", (wf_id,)).rowcount == 0:
                raise NotFound(f"walk-forward {wf_id!r} does not exist")

        await self._db.run(write)
