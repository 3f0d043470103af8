"""Schema migrations: numbered SQL files applied in order, each in its own transaction.

``upgrade`` creates the target schema when needed, applies the files the database lacks,
records each in ``<schema>.schema_migrations`` (version, name, checksum, time), and then lays
out market data for the active path (TimescaleDB or plain PostgreSQL, see ``timescale.py``).
It is idempotent, serialized across processes by an advisory lock, and refuses a database
that is newer than this code or whose applied files were edited since.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.identifiers import check_schema_name as check_schema_name  # re-export
from arbx.adapters.postgres.timescale import LayoutOptions, StorageLayout, ensure_layout
from arbx.domain.errors import StorageError

MIGRATIONS_PACKAGE = "arbx.adapters.postgres.migrations"
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """Where a schema stands: ``current`` is the highest applied version (0 when none)."""

    schema: str
    head: int
    current: int
    applied: tuple[AppliedMigration, ...]
    pending: tuple[Migration, ...]

    @property
    def up_to_date(self) -> bool:
        return not self.pending


@dataclass(frozen=True, slots=True)
class UpgradeResult:
    schema: str
    applied: tuple[str, ...]
    version: int
    layout: StorageLayout


def load_migrations(package: str = MIGRATIONS_PACKAGE) -> tuple[Migration, ...]:
    """The packaged migrations, sorted; versions must run 1, 2, 3... without gaps."""
    found = []
    for entry in resources.files(package).iterdir():
        match = _FILE_RE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise StorageError(
                f"migrations in {package} must be numbered 0001, 0002, ... without gaps or"
                f" duplicates; found {migration.label} where {expected:04d} was expected"
            )
    return tuple(found)


async def migration_status(
    conn: psycopg.AsyncConnection, schema: str, migrations: Sequence[Migration] | None = None
) -> MigrationStatus:
    """Compare the schema's ``schema_migrations`` with the code's migrations.

    Raises ``StorageError`` when the database holds a version this code does not know (it is
    newer) or when an applied migration's checksum differs from its file.
    """
    known = tuple(migrations) if migrations is not None else load_migrations()
    check_schema_name(schema)
    applied = await _applied(conn, schema)
    head = known[-1].version if known else 0
    by_version = {m.version: m for m in known}
    for row in applied:
        migration = by_version.get(row.version)
        if migration is None:
            raise StorageError(
                f"database schema {schema!r} is at migration {row.version:04d}_{row.name}, newer"
                f" than this arbx knows (up to {head:04d}); upgrade arbx, or point it at"
                " another schema or database"
            )
        if migration.checksum != row.checksum:
            raise StorageError(
                f"migration {migration.label} in schema {schema!r} was applied from a different"
                " file than the one this arbx ships; restore the released file and add changes"
                " as a new migration"
            )
    done = {row.version for row in applied}
    return MigrationStatus(
        schema=schema,
        head=head,
        current=max(done, default=0),
        applied=applied,
        pending=tuple(m for m in known if m.version not in done),
    )


async def upgrade(
    conn: psycopg.AsyncConnection,
    schema: str,
    *,
    layout: LayoutOptions | None = None,
    migrations: Sequence[Migration] | None = None,
) -> UpgradeResult:
    """Bring ``schema`` to the head migration and apply the market-data storage layout.

    Each migration runs in its own transaction together with its ``schema_migrations`` row,
    so a failing file leaves the schema at the previous version. Safe to run concurrently
    from several processes (an advisory lock serializes them) and to re-run.
    """
    check_schema_name(schema)
    options = layout or LayoutOptions()
    previous_autocommit = conn.autocommit
    await conn.set_autocommit(True)
    lock_key = f"arbx.migrate:{schema}"
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (lock_key,))
        try:
            await _create_bookkeeping(conn, schema)
            status = await migration_status(conn, schema, migrations)
            applied = []
            for migration in status.pending:
                await _apply(conn, schema, migration)
                applied.append(migration.label)
            storage_layout = await ensure_layout(conn, schema, options)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (lock_key,))
    finally:
        if not conn.closed and not conn.broken:
            await conn.set_autocommit(previous_autocommit)
    return UpgradeResult(schema, tuple(applied), status.head, storage_layout)


async def ensure_up_to_date(
    conn: psycopg.AsyncConnection, schema: str, migrations: Sequence[Migration] | None = None
) -> MigrationStatus:
    """For start-up without auto-migration: ``StorageError`` unless the schema is at head."""
    await _create_bookkeeping_if_schema_exists(conn, schema)
    status = await migration_status(conn, schema, migrations)
    if status.pending:
        raise StorageError(
            f"database schema {schema!r} is at migration {status.current:04d}; this arbx needs"
            f" {status.head:04d} ({len(status.pending)} pending); run `arbx db upgrade`"
        )
    return status


async def upgrade_database(
    pool: AsyncConnectionPool, schema: str, layout: LayoutOptions | None = None
) -> UpgradeResult:
    """``upgrade`` on a connection from ``pool``, with driver errors translated."""
    with storage_errors(f"upgrade database schema {schema!r}"):
        async with pool.connection() as conn:
            return await upgrade(conn, schema, layout=layout)


async def check_database(pool: AsyncConnectionPool, schema: str) -> MigrationStatus:
    """``ensure_up_to_date`` on a connection from ``pool``, with driver errors translated:
    what ``arbx serve`` calls at start-up when it is not to migrate by itself."""
    with storage_errors(f"check database schema {schema!r}"):
        async with pool.connection() as conn, conn.transaction():
            return await ensure_up_to_date(conn, schema)


async def _create_bookkeeping(conn: psycopg.AsyncConnection, schema: str) -> None:
    await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    await conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " version integer PRIMARY KEY,"
            " name text NOT NULL,"
            " checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        ).format(sql.Identifier(schema, "schema_migrations"))
    )


async def _create_bookkeeping_if_schema_exists(conn: psycopg.AsyncConnection, schema: str) -> None:
    check_schema_name(schema)
    cur = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.schema_migrations",))
    row = await cur.fetchone()
    if not (row and row[0]):
        raise StorageError(
            f"database schema {schema!r} has no migrations applied; run `arbx db upgrade`"
        )


async def _applied(conn: psycopg.AsyncConnection, schema: str) -> tuple[AppliedMigration, ...]:
    cur = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.schema_migrations",))
    row = await cur.fetchone()
    if not (row and row[0]):
        return ()
    cur = await conn.execute(
        sql.SQL("SELECT version, name, checksum, applied_at FROM {} ORDER BY version").format(
            sql.Identifier(schema, "schema_migrations")
        )
    )
    return tuple(AppliedMigration(*r) for r in await cur.fetchall())


async def _apply(conn: psycopg.AsyncConnection, schema: str, migration: Migration) -> None:
    try:
        async with conn.transaction():
            await conn.execute(
                sql.SQL("SET LOCAL search_path TO {}, public").format(sql.Identifier(schema))
            )
            # No parameters: psycopg sends the file as one simple query, several statements.
            await conn.execute(migration.sql.encode())
            await conn.execute(
                sql.SQL("INSERT INTO {} (version, name, checksum) VALUES (%s, %s, %s)").format(
                    sql.Identifier(schema, "schema_migrations")
                ),
                (migration.version, migration.name, migration.checksum),
            )
    except psycopg.OperationalError:
        raise
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(
            f"migration {migration.label} failed in schema {schema!r} and was rolled back:"
            f" {message}"
        ) from exc
