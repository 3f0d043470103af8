"""One SQLite database file: the local profile's store for everything that is not a bar series.

Other adapters (run store, quality store, job store, user store) build on ``SqliteDatabase.run``:

    rows = await database.run(lambda conn: conn.execute("SELECT ...", params).fetchall())

``run`` executes the callable in a worker thread inside one transaction (committed when it
returns, rolled back when it raises), one at a time. Errors the callable raises on purpose
(``NotFound``, ``Conflict``...) pass through unchanged; catch ``sqlite3.IntegrityError`` inside
the callable to turn it into a ``Conflict``. Any other ``sqlite3`` error that escapes becomes
``StorageUnavailable`` (the file cannot be opened, written or locked) or ``StorageError``.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.resources.abc import Traversable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from arbx.adapters.sqlite.schema import Migration, load_migrations
from arbx.domain.errors import ArbxError, StorageError, StorageUnavailable

T = TypeVar("T")

DEFAULT_MIGRATIONS = "arbx.adapters.sqlite.migrations"
MEMORY = ":memory:"

# sqlite error names meaning "the file cannot be used right now", not "this statement is wrong".
_UNAVAILABLE = (
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_READONLY",
    "SQLITE_FULL",
    "SQLITE_PERM",
    "SQLITE_AUTH",
)

_CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""


class SqliteDatabase:
    """A migrated SQLite database: WAL mode, foreign keys on, one connection used in turn."""

    def __init__(
        self,
        path: str | Path,
        *,
        migrations: str | Path | Traversable = DEFAULT_MIGRATIONS,
        busy_timeout: float = 5.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._path = str(path)
        self._migrations = migrations
        self._busy_timeout = busy_timeout
        self._now = now
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def path(self) -> str:
        return self._path

    async def open(self) -> None:
        """Connect and bring the schema to the newest migration (idempotent)."""
        async with self._lock:
            if self._conn is None:
                self._conn = await _in_thread(self._connect_and_migrate)

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                await _in_thread(conn.close)

    async def __aenter__(self) -> SqliteDatabase:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` in a worker thread inside one transaction, one call at a time."""
        await self.open()
        async with self._lock:
            conn = self._conn
            if conn is None:
                raise StorageUnavailable(f"the SQLite database {self._path} is closed")
            return await _in_thread(_transaction, conn, fn, self._path)

    async def ping(self) -> None:
        """Raise ``StorageUnavailable`` when the database cannot be used."""
        await self.run(
            lambda conn: conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
        )

    async def schema_version(self) -> int:
        """The newest applied migration (0 for none)."""
        row = await self.run(
            lambda conn: conn.execute(
                "SELECT coalesce(max(version), 0) FROM schema_migrations"
            ).fetchone()
        )
        return int(row[0])

    # -- blocking work -----------------------------------------------------------------------

    def _connect_and_migrate(self) -> sqlite3.Connection:
        migrations = load_migrations(self._migrations)
        if self._path != MEMORY and not self._path.startswith("file:"):
            try:
                Path(self._path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                _private_file(Path(self._path))
            except OSError as exc:
                raise StorageUnavailable(
                    f"cannot create the folder of the SQLite database {self._path}: {exc}"
                ) from exc
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # used by one worker thread at a time, under a lock
                uri=self._path.startswith("file:"),
            )
        except sqlite3.Error as exc:
            raise _translate(exc, self._path) from exc
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            self._migrate(conn, migrations)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise _translate(exc, self._path) from exc
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection, migrations: list[Migration]) -> None:
        conn.execute(_CREATE_MIGRATIONS_TABLE)
        known = {m.version: m for m in migrations}
        applied = _applied(conn)
        unknown = sorted(set(applied) - set(known))
        if unknown:
            newest = max(known, default=0)
            raise StorageError(
                f"the SQLite database {self._path} has migration(s)"
                f" {', '.join(f'{v:04d}_{applied[v]}' for v in unknown)} that this arbx does not"
                f" know (it knows up to {newest:04d}); it was written by a newer arbx: upgrade"
                " arbx or use another database file"
            )
        for version, name in applied.items():
            if known[version].name != name:
                raise StorageError(
                    f"the SQLite database {self._path} recorded migration {version:04d} as"
                    f" {name!r}, but this arbx names it {known[version].name!r}; a released"
                    " migration must never be renamed"
                )
        for migration in migrations:
            if migration.version not in applied:
                self._apply(conn, migration)

    def _apply(self, conn: sqlite3.Connection, migration: Migration) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have applied it while we waited for the write lock.
            if migration.version not in _applied(conn):
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, self._now().isoformat()),
                )
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error) and not _is_unavailable(exc):
                raise StorageError(
                    f"migration {migration.file_name} failed and was rolled back: {exc}"
                ) from exc
            raise


def _applied(conn: sqlite3.Connection) -> dict[int, str]:
    rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    return {int(row[0]): str(row[1]) for row in rows}


def _transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], path: str) -> T:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise _translate(exc, path) from exc
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise _translate(exc, path) from exc
        raise
    return result


def _is_unavailable(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(_UNAVAILABLE)


def _translate(exc: sqlite3.Error, path: str) -> ArbxError:
    if _is_unavailable(exc):
        return StorageUnavailable(
            f"the SQLite database {path} cannot be used ({exc}); check that the file's folder"
            " exists and is writable and that no other program holds it locked"
        )
    if getattr(exc, "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return StorageError(f"{path} is not a usable SQLite database ({exc})")
    return StorageError(f"SQLite statement failed on {path}: {exc}")


async def _in_thread(fn: Callable[..., T], *args: object) -> T:
    """Run blocking work in a thread; if the caller is cancelled, let the work finish first so
    the connection is never used by two threads at once."""
    task = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})
        if not task.cancelled():
            task.exception()
        raise


def _private_file(path: Path) -> None:
    """Create the database file readable by its owner only (it holds password hashes, token
    digests and key hashes); SQLite gives its -wal and -shm files the same mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)  # a file made by an older arbx (0644): tighten it
