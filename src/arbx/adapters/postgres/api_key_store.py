"""ApiKeyStore on PostgreSQL (table ``api_keys`` from migration 0005_auth)."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.codecs import as_utc, maybe_utc, parse_roles, role_names
from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.identifiers import SchemaTables
from arbx.domain.auth import ApiKey
from arbx.domain.errors import Conflict, NotFound
from arbx.ports.api_key_store import ApiKeyStore

_COLUMNS = (
    "id, name, owner_id, prefix, secret_hash, roles, created_at, expires_at, last_used_at,"
    " revoked_at"
)
_SELECT = "SELECT " + _COLUMNS + " FROM {api_keys}"


def _key(row: tuple[Any, ...]) -> ApiKey:
    key_id, name, owner, prefix, secret_hash, roles, created, expires, used, revoked = row
    return ApiKey(
        id=key_id,
        name=name,
        owner_id=owner,
        prefix=prefix,
        secret_hash=secret_hash,
        roles=parse_roles(roles),
        created_at=as_utc(created),
        expires_at=maybe_utc(expires),
        last_used_at=maybe_utc(used),
        revoked_at=maybe_utc(revoked),
    )


class PostgresApiKeyStore(ApiKeyStore):
    def __init__(self, pool: AsyncConnectionPool, schema: str) -> None:
        self._pool = pool
        self._t = SchemaTables(schema, "api_keys")

    async def add(self, key: ApiKey) -> None:
        values = (
            key.id,
            key.name,
            key.owner_id,
            key.prefix,
            key.secret_hash,
            role_names(key.roles),
            key.created_at,
            key.expires_at,
            key.last_used_at,
            key.revoked_at,
        )
        with storage_errors(f"add api key {key.id!r}"):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    await conn.execute(
                        self._t.sql(
                            "INSERT INTO {api_keys} (" + _COLUMNS + ")"
                            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                        ),
                        values,
                    )
            except psycopg.errors.UniqueViolation as exc:
                raise Conflict(
                    f"api key id {key.id!r} or prefix {key.prefix!r} exists already"
                ) from exc

    async def get(self, key_id: str) -> ApiKey:
        rows = await self._fetch(f"read api key {key_id!r}", " WHERE id = %s", [key_id])
        if not rows:
            raise NotFound(f"api key {key_id!r} does not exist")
        return _key(rows[0])

    async def find_by_prefix(self, prefix: str) -> ApiKey | None:
        rows = await self._fetch("find an api key", " WHERE prefix = %s", [prefix])
        return _key(rows[0]) if rows else None

    async def list(self, owner_id: str | None = None) -> builtins.list[ApiKey]:
        if owner_id is None:
            rows = await self._fetch("list api keys", " ORDER BY created_at, id", [])
        else:
            rows = await self._fetch(
                f"list api keys of {owner_id!r}",
                " WHERE owner_id = %s ORDER BY created_at, id",
                [owner_id],
            )
        return [_key(row) for row in rows]

    async def revoke(self, key_id: str, at: datetime) -> ApiKey:
        with storage_errors(f"revoke api key {key_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                # the first revocation time stays; returning the row reads it either way
                await conn.execute(
                    self._t.sql(
                        "UPDATE {api_keys} SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL"
                    ),
                    (at, key_id),
                )
                cur = await conn.execute(self._t.sql(_SELECT + " WHERE id = %s"), (key_id,))
                row = await cur.fetchone()
        if row is None:
            raise NotFound(f"api key {key_id!r} does not exist")
        return _key(row)

    async def touch(self, key_id: str, at: datetime) -> None:
        with storage_errors(f"record a use of api key {key_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(
                    self._t.sql(
                        "UPDATE {api_keys} SET last_used_at = %s"
                        " WHERE id = %s AND (last_used_at IS NULL OR last_used_at < %s)"
                    ),
                    (at, key_id, at),
                )

    async def _fetch(
        self, action: str, tail: str, params: builtins.list[object]
    ) -> builtins.list[tuple[Any, ...]]:
        with storage_errors(action):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(self._t.sql(_SELECT + tail), params)
                return await cur.fetchall()
