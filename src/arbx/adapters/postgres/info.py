"""What ``arbx db info`` and ``/ready`` report about the PostgreSQL store."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.identifiers import check_schema_name
from arbx.adapters.postgres.migrate import MigrationStatus, migration_status
from arbx.adapters.postgres.timescale import StorageLayout, inspect_layout


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    server_version: str
    schema: str
    migrations: MigrationStatus
    layout: StorageLayout

    @property
    def path(self) -> str:
        """ "timescaledb" or "plain": the storage path market data is on."""
        return self.layout.path

    @property
    def up_to_date(self) -> bool:
        return self.migrations.up_to_date

    def summary(self) -> str:
        """One line for ``/ready``: server, schema and migration, the storage path and why."""
        status = self.migrations
        pending = (
            f" ({len(status.pending)} pending: run `arbx db upgrade`)" if status.pending else ""
        )
        return (
            f"postgresql {self.server_version}, schema {self.schema} at migration"
            f" {status.current:04d}{pending}; path {self.path}: {self.layout.reason}"
        )


async def database_info(pool: AsyncConnectionPool, schema: str) -> DatabaseInfo:
    """Server version, migration status and active storage path of ``schema``.

    Raises ``StorageUnavailable`` when the server cannot be reached, ``StorageError`` when the
    schema is newer than this code (see ``migration_status``).
    """
    check_schema_name(schema)
    with storage_errors("read database information"):
        async with pool.connection() as conn, conn.transaction():
            cur = await conn.execute("SHOW server_version")
            row = await cur.fetchone()
            status = await migration_status(conn, schema)
            layout = await inspect_layout(conn, schema)
    return DatabaseInfo(str(row[0]) if row else "unknown", schema, status, layout)
