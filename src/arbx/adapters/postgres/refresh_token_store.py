"""RefreshTokenStore on PostgreSQL (table ``refresh_tokens`` from migration 0005_auth).

``rotate`` is one transaction: a conditional ``UPDATE ... WHERE used_at IS NULL AND revoked_at
IS NULL`` marks the token used, then the successor is inserted. Two concurrent rotations of one
token serialize on its row lock; the second re-checks the condition against the committed row,
changes nothing and returns False.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.codecs import as_utc, maybe_utc
from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.identifiers import SchemaTables
from arbx.domain.auth import RefreshToken
from arbx.domain.errors import Conflict, InvalidInput
from arbx.ports.refresh_token_store import RefreshTokenStore

Conn = psycopg.AsyncConnection[Any]

_COLUMNS = (
    "id, family_id, user_id, token_hash, issued_at, expires_at, session_started_at, used_at,"
    " revoked_at"
)


def _token(row: tuple[Any, ...]) -> RefreshToken:
    token_id, family, user, token_hash, issued, expires, started, used, revoked = row
    return RefreshToken(
        id=token_id,
        family_id=family,
        user_id=user,
        token_hash=token_hash,
        issued_at=as_utc(issued),
        expires_at=as_utc(expires),
        session_started_at=as_utc(started),
        used_at=maybe_utc(used),
        revoked_at=maybe_utc(revoked),
    )


class PostgresRefreshTokenStore(RefreshTokenStore):
    def __init__(self, pool: AsyncConnectionPool, schema: str) -> None:
        self._pool = pool
        self._t = SchemaTables(schema, "refresh_tokens")

    async def add(self, token: RefreshToken) -> None:
        with storage_errors("store a refresh token"):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    await self._insert(conn, token)
            except psycopg.errors.UniqueViolation as exc:
                raise Conflict(f"refresh token {token.id!r} or its hash exists already") from exc

    async def find(self, token_hash: str) -> RefreshToken | None:
        with storage_errors("find a refresh token"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    self._t.sql(
                        "SELECT " + _COLUMNS + " FROM {refresh_tokens} WHERE token_hash = %s"
                    ),
                    (token_hash,),
                )
                row = await cur.fetchone()
        return None if row is None else _token(row)

    async def rotate(self, used_id: str, at: datetime, successor: RefreshToken) -> bool:
        with storage_errors("rotate a refresh token"):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    cur = await conn.execute(
                        self._t.sql(
                            "UPDATE {refresh_tokens} SET used_at = %s"
                            " WHERE id = %s AND used_at IS NULL AND revoked_at IS NULL"
                            " RETURNING family_id"
                        ),
                        (at, used_id),
                    )
                    row = await cur.fetchone()
                    if row is None:
                        return False
                    if row[0] != successor.family_id:
                        raise InvalidInput("a successor must stay in its family", field="family_id")
                    await self._insert(conn, successor)  # a failure rolls the swap back
                    return True
            except psycopg.errors.UniqueViolation as exc:
                raise Conflict(
                    f"refresh token {successor.id!r} or its hash exists already"
                ) from exc

    async def revoke_family(self, family_id: str, at: datetime) -> int:
        return await self._revoke("family_id", family_id, at)

    async def revoke_user(self, user_id: str, at: datetime) -> int:
        return await self._revoke("user_id", user_id, at)

    async def session_active(self, family_id: str) -> bool:
        with storage_errors("check a sign-in session"):
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    self._t.sql(
                        "SELECT 1 FROM {refresh_tokens}"
                        " WHERE family_id = %s AND revoked_at IS NULL LIMIT 1"
                    ),
                    (family_id,),
                )
                return await cur.fetchone() is not None

    async def purge_expired(self, before: datetime) -> int:
        with storage_errors("purge expired refresh tokens"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    self._t.sql("DELETE FROM {refresh_tokens} WHERE expires_at < %s"), (before,)
                )
                return cur.rowcount

    async def _revoke(self, column: str, value: str, at: datetime) -> int:
        assert column in ("family_id", "user_id")
        with storage_errors(f"revoke refresh tokens by {column}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    self._t.sql(
                        "UPDATE {refresh_tokens} SET revoked_at = %s"
                        f" WHERE {column} = %s AND revoked_at IS NULL"
                    ),
                    (at, value),
                )
                return cur.rowcount

    async def _insert(self, conn: Conn, token: RefreshToken) -> None:
        await conn.execute(
            self._t.sql(
                "INSERT INTO {refresh_tokens} (" + _COLUMNS + ")"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ),
            (
                token.id,
                token.family_id,
                token.user_id,
                token.token_hash,
                token.issued_at,
                token.expires_at,
                token.session_started_at,
                token.used_at,
                token.revoked_at,
            ),
        )
