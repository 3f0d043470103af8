"""RefreshTokenStore on SQLite (table ``refresh_tokens`` from migration 0005_auth)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from arbx.adapters.sqlite.codecs import from_micros, maybe_datetime, maybe_micros, to_micros
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.domain.auth import RefreshToken
from arbx.domain.errors import Conflict, InvalidInput
from arbx.ports.refresh_token_store import RefreshTokenStore

_COLUMNS = (
    "id, family_id, user_id, token_hash, issued_at, expires_at, session_started_at, used_at,"
    " revoked_at"
)


def _token(row: sqlite3.Row) -> RefreshToken:
    return RefreshToken(
        id=row["id"],
        family_id=row["family_id"],
        user_id=row["user_id"],
        token_hash=row["token_hash"],
        issued_at=from_micros(row["issued_at"]),
        expires_at=from_micros(row["expires_at"]),
        session_started_at=from_micros(row["session_started_at"]),
        used_at=maybe_datetime(row["used_at"]),
        revoked_at=maybe_datetime(row["revoked_at"]),
    )


def _insert(conn: sqlite3.Connection, token: RefreshToken) -> None:
    try:
        conn.execute(
            f"INSERT INTO refresh_tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                token.id,
                token.family_id,
                token.user_id,
                token.token_hash,
                to_micros(token.issued_at),
                to_micros(token.expires_at),
                to_micros(token.session_started_at),
                maybe_micros(token.used_at),
                maybe_micros(token.revoked_at),
            ),
        )
    except sqlite3.IntegrityError as exc:
        raise Conflict(f"refresh token {token.id!r} or its hash exists already") from exc


class SqliteRefreshTokenStore(RefreshTokenStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def add(self, token: RefreshToken) -> None:
        await self._db.run(lambda conn: _insert(conn, token))

    async def find(self, token_hash: str) -> RefreshToken | None:
        row = await self._db.run(
            lambda conn: conn.execute(
                f"SELECT {_COLUMNS} FROM refresh_tokens WHERE token_hash = ?", (token_hash,)
            ).fetchone()
        )
        return None if row is None else _token(row)

    async def rotate(self, used_id: str, at: datetime, successor: RefreshToken) -> bool:
        def swap(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT family_id FROM refresh_tokens"
                " WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL",
                (used_id,),
            ).fetchone()
            if row is None:
                return False
            if row["family_id"] != successor.family_id:
                raise InvalidInput("a successor must stay in its family", field="family_id")
            conn.execute(
                "UPDATE refresh_tokens SET used_at = ? WHERE id = ?", (to_micros(at), used_id)
            )
            _insert(conn, successor)  # a Conflict here rolls the whole swap back
            return True

        return await self._db.run(swap)

    async def revoke_family(self, family_id: str, at: datetime) -> int:
        return await self._revoke("family_id", family_id, at)

    async def revoke_user(self, user_id: str, at: datetime) -> int:
        return await self._revoke("user_id", user_id, at)

    async def _revoke(self, column: str, value: str, at: datetime) -> int:
        assert column in ("family_id", "user_id")
        sql = f"UPDATE refresh_tokens SET revoked_at = ? WHERE {column} = ? AND revoked_at IS NULL"
        return await self._db.run(lambda conn: conn.execute(sql, (to_micros(at), value)).rowcount)

    async def session_active(self, family_id: str) -> bool:
        sql = "SELECT 1 FROM refresh_tokens WHERE family_id = ? AND revoked_at IS NULL LIMIT 1"
        return await self._db.run(
            lambda conn: conn.execute(sql, (family_id,)).fetchone() is not None
        )

    async def purge_expired(self, before: datetime) -> int:
        return await self._db.run(
            lambda conn: (
                conn.execute(
                    "DELETE FROM refresh_tokens WHERE expires_at < ?", (to_micros(before),)
                ).rowcount
            )
        )
