"""ApiKeyStore on SQLite (table ``api_keys`` from migration 0005_auth)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from arbx.adapters.sqlite.codecs import (
    from_micros,
    maybe_datetime,
    maybe_micros,
    parse_roles,
    roles_text,
    to_micros,
)
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.domain.auth import ApiKey
from arbx.domain.errors import Conflict, NotFound
from arbx.ports.api_key_store import ApiKeyStore

_COLUMNS = (
    "id, name, owner_id, prefix, secret_hash, roles, created_at, expires_at, last_used_at,"
    " revoked_at"
)


def _key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        owner_id=row["owner_id"],
        prefix=row["prefix"],
        secret_hash=row["secret_hash"],
        roles=parse_roles(row["roles"]),
        created_at=from_micros(row["created_at"]),
        expires_at=maybe_datetime(row["expires_at"]),
        last_used_at=maybe_datetime(row["last_used_at"]),
        revoked_at=maybe_datetime(row["revoked_at"]),
    )


def _get(conn: sqlite3.Connection, key_id: str) -> ApiKey:
    row = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)).fetchone()
    if row is None:
        raise NotFound(f"api key {key_id!r} does not exist")
    return _key(row)


class SqliteApiKeyStore(ApiKeyStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def add(self, key: ApiKey) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    f"INSERT INTO api_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key.id,
                        key.name,
                        key.owner_id,
                        key.prefix,
                        key.secret_hash,
                        roles_text(key.roles),
                        to_micros(key.created_at),
                        maybe_micros(key.expires_at),
                        maybe_micros(key.last_used_at),
                        maybe_micros(key.revoked_at),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(
                    f"api key id {key.id!r} or prefix {key.prefix!r} exists already"
                ) from exc

        await self._db.run(insert)

    async def get(self, key_id: str) -> ApiKey:
        return await self._db.run(lambda conn: _get(conn, key_id))

    async def find_by_prefix(self, prefix: str) -> ApiKey | None:
        row = await self._db.run(
            lambda conn: conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys WHERE prefix = ?", (prefix,)
            ).fetchone()
        )
        return None if row is None else _key(row)

    async def list(self, owner_id: str | None = None) -> list[ApiKey]:
        def select(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            if owner_id is None:
                sql = f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, id"
                return conn.execute(sql).fetchall()
            sql = f"SELECT {_COLUMNS} FROM api_keys WHERE owner_id = ? ORDER BY created_at, id"
            return conn.execute(sql, (owner_id,)).fetchall()

        return [_key(row) for row in await self._db.run(select)]

    async def revoke(self, key_id: str, at: datetime) -> ApiKey:
        def change(conn: sqlite3.Connection) -> ApiKey:
            conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (to_micros(at), key_id),
            )
            return _get(conn, key_id)

        return await self._db.run(change)

    async def touch(self, key_id: str, at: datetime) -> None:
        stamp = to_micros(at)
        await self._db.run(
            lambda conn: conn.execute(
                "UPDATE api_keys SET last_used_at = ?"
                " WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                (stamp, key_id, stamp),
            )
        )
