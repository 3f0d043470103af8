"""StudyStore on SQLite (tables ``studies`` and ``study_trials``, migration 0008): a study's
and a trial's JSON beside the columns the store filters and sorts on."""

from __future__ import annotations

import builtins
import sqlite3
from datetime import UTC, datetime, timedelta

import msgspec

from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.domain.errors import Conflict, NotFound, StorageError
from arbx.domain.research.study import Study, StudyStatus, Trial, guard
from arbx.ports.study_store import StudyStore

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_STUDY = msgspec.json.Decoder(Study)
_TRIAL = msgspec.json.Decoder(Trial)
_ENCODER = msgspec.json.Encoder()


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICRO


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


def _known(conn: sqlite3.Connection, study_id: str) -> None:
    if conn.execute("SELECT 1 FROM studies WHERE id = ?", (study_id,)).fetchone() is None:
        raise NotFound(f"study {study_id!r} does not exist")


def _text(moment: datetime) -> str:
    return _ENCODER.encode(moment).decode().strip('"')


def list_rows(
    conn: sqlite3.Connection,
    table: str,
    limit: int,
    readable_by: str | None,
    status: str | None,
) -> builtins.list[tuple[str, str]]:
    """(id, meta) of a table of long work (studies, walk-forwards), newest first."""
    where, params = [], []
    if readable_by is not None:
        where.append("(owner IS NULL OR owner = ?)")
        params.append(readable_by)
    if status is not None:
        where.append("json_extract(meta, '$.status') = ?")
        params.append(status)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        f"SELECT id, meta FROM {table} {clause} ORDER BY created_at DESC, id DESC LIMIT ?",
        (*params, max(limit, 0)),
    ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def _exists(conn: sqlite3.Connection, table: str, work_id: str, what: str) -> None:
    if conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (work_id,)).fetchone() is None:
        raise NotFound(f"{what} {work_id!r} does not exist")


def heartbeat(conn: sqlite3.Connection, table: str, work_id: str, token: str, at: datetime) -> bool:
    """Renew the heartbeat of running work held by ``token`` (one conditional UPDATE)."""
    cur = conn.execute(
        f"UPDATE {table} SET meta = json_set(meta, '$.holder.heartbeat_at', ?)"
        " WHERE id = ? AND json_extract(meta, '$.status') = 'running'"
        " AND json_extract(meta, '$.holder.token') = ?",
        (_text(at), work_id, token),
    )
    if cur.rowcount == 0:
        _exists(conn, table, work_id, "study" if table == "studies" else "walk-forward")
        return False
    return True


def interrupt(
    conn: sqlite3.Connection,
    table: str,
    work_id: str,
    seen: tuple[str | None, str | None, str | None],
    at: datetime,
    error: str,
) -> bool:
    """Mark running work interrupted when it is still as ``seen`` (one conditional UPDATE)."""
    token, beat, updated = seen
    cur = conn.execute(
        f"UPDATE {table} SET meta = json_set(meta, '$.status', 'interrupted', '$.error', ?,"
        " '$.updated_at', ?) WHERE id = ? AND json_extract(meta, '$.status') = 'running'"
        " AND json_extract(meta, '$.holder.token') IS ?"
        " AND json_extract(meta, '$.holder.heartbeat_at') IS ?"
        " AND json_extract(meta, '$.updated_at') IS ?",
        (error, _text(at), work_id, token, beat, updated),
    )
    if cur.rowcount == 0:
        _exists(conn, table, work_id, "study" if table == "studies" else "walk-forward")
        return False
    return True


class SqliteStudyStore(StudyStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def create(self, study: Study) -> None:
        meta = _ENCODER.encode(study).decode()

        def write(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO studies (id, created_at, owner, meta) VALUES (?, ?, ?, ?)",
                    (study.id, _micros(study.created_at), study.owner, meta),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"study {study.id!r} is stored already") from None

        await self._db.run(write)

    async def get(self, study_id: str) -> Study:
        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT meta FROM studies WHERE id = ?", (study_id,)).fetchone()
            return None if row is None else str(row[0])

        text = await self._db.run(read)
        if text is None:
            raise NotFound(f"study {study_id!r} does not exist")
        return _study(study_id, text)

    async def update(self, study: Study) -> None:
        meta = _ENCODER.encode(study).decode()

        def write(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE studies SET meta = ?, owner = ? WHERE id = ?", (meta, study.owner, study.id)
            )
            if cur.rowcount == 0:
                raise NotFound(f"study {study.id!r} does not exist")

        await self._db.run(write)

    async def list(
        self,
        *,
        limit: int = 100,
        readable_by: str | None = None,
        status: StudyStatus | None = None,
    ) -> builtins.list[Study]:
        rows = await self._db.run(
            lambda conn: list_rows(conn, "studies", limit, readable_by, status)
        )
        return [_study(i, text) for i, text in rows]

    async def heartbeat(self, study_id: str, token: str, at: datetime) -> bool:
        return await self._db.run(lambda conn: heartbeat(conn, "studies", study_id, token, at))

    async def interrupt(self, seen: Study, at: datetime, error: str) -> bool:
        token, beat, updated = guard(seen.holder, seen.updated_at)
        return await self._db.run(
            lambda conn: interrupt(conn, "studies", seen.id, (token, beat, updated), at, error)
        )

    async def add_trial(self, trial: Trial) -> None:
        body = _ENCODER.encode(trial).decode()

        def write(conn: sqlite3.Connection) -> None:
            _known(conn, trial.study_id)
            try:
                conn.execute(
                    "INSERT INTO study_trials (study_id, number, body) VALUES (?, ?, ?)",
                    (trial.study_id, trial.number, body),
                )
            except sqlite3.IntegrityError:
                raise Conflict(
                    f"trial {trial.number} of study {trial.study_id!r} is stored already"
                ) from None

        await self._db.run(write)

    async def trials(self, study_id: str) -> builtins.list[Trial]:
        def read(conn: sqlite3.Connection) -> builtins.list[str]:
            _known(conn, study_id)
            rows = conn.execute(
                "SELECT body FROM study_trials WHERE study_id = ? ORDER BY number", (study_id,)
            ).fetchall()
            return [str(r[0]) for r in rows]

        return [_trial(study_id, text) for text in await self._db.run(read)]

    async def set_trial_run(self, study_id: str, number: int, run_id: str) -> None:
        def write(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT body FROM study_trials WHERE study_id = ? AND number = ?",
                (study_id, number),
            ).fetchone()
            if row is None:
                raise NotFound(f"trial {number} of study {study_id!r} does not exist")
            trial = msgspec.structs.replace(_trial(study_id, str(row[0])), run_id=run_id)
            conn.execute(
                "UPDATE study_trials SET body = ? WHERE study_id = ? AND number = ?",
                (_ENCODER.encode(trial).decode(), study_id, number),
            )

        await self._db.run(write)

    async def delete(self, study_id: str) -> None:
        def write(conn: sqlite3.Connection) -> None:
            if conn.execute("DELETE FROM studies WHERE id = ?", (study_id,)).rowcount == 0:
                raise NotFound(f"study {study_id!r} does not exist")

        await self._db.run(write)
