"""UserStore on PostgreSQL: ``users``, ``roles`` and ``user_roles`` (migration 0005_auth).

A first-admin creation (``only_if_no_admin``) takes a transaction-scoped advisory lock before
it counts the active admins, so concurrent first-admin creations queue and only the first can
insert; the count of the next one sees it (READ COMMITTED takes a fresh snapshot per statement).
"""

from __future__ import annotations

import builtins
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.codecs import as_utc, parse_roles, role_names
from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.identifiers import SchemaTables
from arbx.domain.auth import User, UserCredentials, UserState
from arbx.domain.errors import Conflict, NotFound
from arbx.ports.user_store import UserStore

Conn = psycopg.AsyncConnection[Any]

_SELECT = (
    "SELECT u.id, u.username, u.state, u.created_at, u.password_hash,"
    " array(SELECT r.role FROM {user_roles} AS r WHERE r.user_id = u.id)"
    " FROM {users} AS u"
)
_ACTIVE_ADMINS = (
    "SELECT count(*) FROM {users} AS u JOIN {user_roles} AS r ON r.user_id = u.id"
    " WHERE u.state = 'active' AND r.role = 'admin'"
)


def _user(row: tuple[Any, ...]) -> User:
    user_id, username, state, created_at, _hash, roles = row
    return User(
        id=user_id,
        username=username,
        roles=parse_roles(roles),
        created_at=as_utc(created_at),
        state=UserState(state),
    )


class PostgresUserStore(UserStore):
    def __init__(self, pool: AsyncConnectionPool, schema: str) -> None:
        self._pool = pool
        self._t = SchemaTables(schema, "users", "user_roles")
        self._lock_key = f"arbx.first_admin:{schema}"

    async def add(self, user: User, password_hash: str, *, only_if_no_admin: bool = False) -> None:
        with storage_errors(f"add user {user.username!r}"):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    if only_if_no_admin:
                        await conn.execute(
                            "SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_key,)
                        )
                        if await self._active_admins(conn) > 0:
                            raise Conflict(
                                "an admin exists already; ask them to create your account"
                            )
                    await conn.execute(
                        self._t.sql(
                            "INSERT INTO {users} (id, username, state, password_hash, created_at)"
                            " VALUES (%s, %s, %s, %s, %s)"
                        ),
                        (user.id, user.username, user.state.value, password_hash, user.created_at),
                    )
                    await self._write_roles(conn, user)
            except psycopg.errors.UniqueViolation as exc:
                raise Conflict(
                    f"user id {user.id!r} or username {user.username!r} exists already"
                ) from exc

    async def get(self, user_id: str) -> User:
        row = await self._one(f"read user {user_id!r}", " WHERE u.id = %s", user_id)
        if row is None:
            raise NotFound(f"user {user_id!r} does not exist")
        return _user(row)

    async def find_by_username(self, username: str) -> User | None:
        found = await self.credentials(username)
        return None if found is None else found.user

    async def credentials(self, username: str) -> UserCredentials | None:
        row = await self._one(f"read user {username!r}", " WHERE u.username = %s", username)
        if row is None:
            return None
        return UserCredentials(user=_user(row), password_hash=row[4])

    async def update(self, user: User) -> None:
        with storage_errors(f"update user {user.id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    self._t.sql("UPDATE {users} SET state = %s WHERE id = %s"),
                    (user.state.value, user.id),
                )
                if cur.rowcount == 0:
                    raise NotFound(f"user {user.id!r} does not exist")
                await self._write_roles(conn, user)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        with storage_errors(f"change the password of user {user_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    self._t.sql("UPDATE {users} SET password_hash = %s WHERE id = %s"),
                    (password_hash, user_id),
                )
                if cur.rowcount == 0:
                    raise NotFound(f"user {user_id!r} does not exist")

    async def list(self) -> builtins.list[User]:
        with storage_errors("list users"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(self._t.sql(_SELECT + " ORDER BY u.username"))
                rows = await cur.fetchall()
        return [_user(row) for row in rows]

    async def count_active_admins(self) -> int:
        with storage_errors("count active admins"):
            async with self._pool.connection() as conn, conn.transaction():
                return await self._active_admins(conn)

    async def _active_admins(self, conn: Conn) -> int:
        cur = await conn.execute(self._t.sql(_ACTIVE_ADMINS))
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _write_roles(self, conn: Conn, user: User) -> None:
        await conn.execute(self._t.sql("DELETE FROM {user_roles} WHERE user_id = %s"), (user.id,))
        await conn.execute(
            self._t.sql("INSERT INTO {user_roles} (user_id, role) SELECT %s, unnest(%s::text[])"),
            (user.id, role_names(user.roles)),
        )

    async def _one(self, action: str, where: str, value: str) -> tuple[Any, ...] | None:
        with storage_errors(action):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(self._t.sql(_SELECT + where), (value,))
                return await cur.fetchone()
