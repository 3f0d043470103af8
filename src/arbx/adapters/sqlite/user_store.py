"""UserStore on SQLite (tables from migration 0005_auth)."""

from __future__ import annotations

import sqlite3

from arbx.adapters.sqlite.codecs import from_micros, parse_roles, to_micros
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.domain.auth import User, UserCredentials, UserState
from arbx.domain.errors import Conflict, NotFound
from arbx.ports.user_store import UserStore

_SELECT = """
SELECT u.id, u.username, u.state, u.password_hash, u.created_at,
       (SELECT group_concat(r.role) FROM user_roles r WHERE r.user_id = u.id) AS roles
FROM users u
"""


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        roles=parse_roles(row["roles"]),
        created_at=from_micros(row["created_at"]),
        state=UserState(row["state"]),
    )


def _write_roles(conn: sqlite3.Connection, user: User) -> None:
    conn.execute("DELETE FROM user_roles WHERE user_id = ?", (user.id,))
    conn.executemany(
        "INSERT INTO user_roles (user_id, role) VALUES (?, ?)",
        [(user.id, role.value) for role in sorted(user.roles, key=lambda r: r.value)],
    )


def _active_admins(conn: sqlite3.Connection) -> int:
    row = conn.execute(
        "SELECT count(*) FROM users u JOIN user_roles r ON r.user_id = u.id"
        " WHERE u.state = 'active' AND r.role = 'admin'"
    ).fetchone()
    return int(row[0])


class SqliteUserStore(UserStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def add(self, user: User, password_hash: str, *, only_if_no_admin: bool = False) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            if only_if_no_admin and _active_admins(conn) > 0:
                raise Conflict("an admin exists already; ask them to create your account")
            try:
                conn.execute(
                    "INSERT INTO users (id, username, state, password_hash, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        user.id,
                        user.username,
                        user.state.value,
                        password_hash,
                        to_micros(user.created_at),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(
                    f"user id {user.id!r} or username {user.username!r} exists already"
                ) from exc
            _write_roles(conn, user)

        await self._db.run(insert)

    async def get(self, user_id: str) -> User:
        row = await self._db.run(
            lambda conn: conn.execute(_SELECT + " WHERE u.id = ?", (user_id,)).fetchone()
        )
        if row is None:
            raise NotFound(f"user {user_id!r} does not exist")
        return _user(row)

    async def find_by_username(self, username: str) -> User | None:
        found = await self.credentials(username)
        return None if found is None else found.user

    async def credentials(self, username: str) -> UserCredentials | None:
        row = await self._db.run(
            lambda conn: conn.execute(_SELECT + " WHERE u.username = ?", (username,)).fetchone()
        )
        if row is None:
            return None
        return UserCredentials(user=_user(row), password_hash=row["password_hash"])

    async def update(self, user: User) -> None:
        def change(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE users SET state = ? WHERE id = ?", (user.state.value, user.id)
            )
            if cursor.rowcount == 0:
                raise NotFound(f"user {user.id!r} does not exist")
            _write_roles(conn, user)

        await self._db.run(change)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        def change(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
            )
            if cursor.rowcount == 0:
                raise NotFound(f"user {user_id!r} does not exist")

        await self._db.run(change)

    async def list(self) -> list[User]:
        rows = await self._db.run(
            lambda conn: conn.execute(_SELECT + " ORDER BY u.username").fetchall()
        )
        return [_user(row) for row in rows]

    async def count_active_admins(self) -> int:
        return await self._db.run(_active_admins)
