"""``arbx db``: the server profile's PostgreSQL schema: upgrade it, describe it, check it.

These commands open only the database pool (no HTTP session, no stores) and work whatever
the profile, since they name the database explicitly ([database] settings, ARBX_DATABASE_URL).
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.errors import redact
from arbx.adapters.postgres.info import DatabaseInfo, database_info
from arbx.adapters.postgres.migrate import upgrade_database
from arbx.adapters.postgres.timescale import StorageLayout
from arbx.entrypoints.runtime import resolve

if TYPE_CHECKING:
    from arbx.entrypoints.container import Container

EXIT_OK, EXIT_FAILED = 0, 1
T = TypeVar("T")


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "db",
        help="PostgreSQL schema of the server profile: upgrade, info, status",
        description="Manage the PostgreSQL schema named by [database] (url: ARBX_DATABASE_URL,"
        " schema). Start-up waits for the server up to database.startup_retry_s.",
    )
    commands = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)

    upgrade = commands.add_parser(
        "upgrade",
        help="apply pending migrations and the storage layout (idempotent)",
        description="Create the schema when needed, apply the migrations it lacks (each in its"
        " own transaction), then lay out market data: TimescaleDB hypertable, compression and"
        " continuous aggregates when the extension is available ([database] timescale), plain"
        " PostgreSQL indexes and views otherwise. Safe to re-run and to run concurrently.",
    )
    upgrade.set_defaults(run=run_upgrade, manages_runtime=True)

    info = commands.add_parser(
        "info",
        help="server version, schema, applied migrations, active storage path and why",
        description="Describe the database: server version, schema, applied and pending"
        " migrations, and which storage path is active (timescaledb or plain) with the reason.",
    )
    info.add_argument("--json", action="store_true", help="print one JSON object instead")
    info.set_defaults(run=run_info, manages_runtime=True)

    status = commands.add_parser(
        "status",
        help="is the schema at the code's migration? exit 0 yes, 1 no (pending migrations)",
        description="Compare the schema with this arbx's migrations. Exit 0 when up to date,"
        " 1 when migrations are pending or the database is newer than this code.",
    )
    status.set_defaults(run=run_status, manages_runtime=True)


async def _with_pool(
    container: Container, work: Callable[[AsyncConnectionPool], Awaitable[T]]
) -> T:
    """Open only the pool (bounded start-up retries), run ``work``, close the pool."""
    pool = await resolve(container.postgres_pool)
    try:
        return await work(pool)
    finally:
        closed = container.postgres_pool.shutdown()
        if inspect.isawaitable(closed):
            await closed


def _where(container: Container) -> str:
    database = container.settings().database
    return f"{redact(database.url)} schema {database.schema}"


def _note_profile(container: Container) -> None:
    profile = container.settings().profile
    if profile != "server":
        print(
            f"note: profile {profile!r} keeps its data in Parquet and SQLite; this command acts on"
            " the PostgreSQL of [database] (the server profile's store)",
            file=sys.stderr,
        )


def _layout_lines(layout: StorageLayout) -> list[str]:
    available = layout.timescaledb_available or "no"
    installed = layout.timescaledb_installed or "no"
    features = [
        f"hypertable {'yes' if layout.hypertable else 'no'}",
        f"compression {'yes' if layout.compression else 'no'}",
        f"{'continuous aggregates' if layout.hypertable else 'date_bin views'}"
        f" {', '.join(layout.rollups) or 'none'}",
    ]
    return [
        f"storage path  {layout.path} ({layout.reason})",
        f"timescaledb   available {available}, installed {installed}",
        f"layout        {'; '.join(features)}",
    ]


async def run_upgrade(args: argparse.Namespace, container: Container) -> int:
    _note_profile(container)
    database = container.settings().database
    layout_options = container.database_layout()
    result = await _with_pool(
        container, lambda pool: upgrade_database(pool, database.schema, layout_options)
    )
    applied = ", ".join(result.applied) if result.applied else "none (up to date)"
    print(f"database      {_where(container)}")
    print(f"migration     {result.version:04d}; applied now: {applied}")
    for line in _layout_lines(result.layout):
        print(line)
    return EXIT_OK


def _info_dict(info: DatabaseInfo) -> dict[str, Any]:
    status = info.migrations
    return {
        "server_version": info.server_version,
        "schema": info.schema,
        "migration": status.current,
        "head": status.head,
        "up_to_date": status.up_to_date,
        "applied": [
            {"version": m.version, "name": m.name, "applied_at": m.applied_at.isoformat()}
            for m in status.applied
        ],
        "pending": [m.label for m in status.pending],
        "path": info.path,
        "reason": info.layout.reason,
        "timescaledb_available": info.layout.timescaledb_available,
        "timescaledb_installed": info.layout.timescaledb_installed,
        "hypertable": info.layout.hypertable,
        "compression": info.layout.compression,
        "rollups": list(info.layout.rollups),
    }


async def run_info(args: argparse.Namespace, container: Container) -> int:
    _note_profile(container)
    schema = container.settings().database.schema
    info = await _with_pool(container, lambda pool: database_info(pool, schema))
    if args.json:
        print(msgspec.json.encode(_info_dict(info)).decode())
        return EXIT_OK
    status = info.migrations
    print(f"server        PostgreSQL {info.server_version}")
    print(f"database      {_where(container)}")
    state = "up to date" if status.up_to_date else f"{len(status.pending)} pending"
    print(f"migration     {status.current:04d} of {status.head:04d} ({state})")
    for applied in status.applied:
        stamp = applied.applied_at.strftime("%Y-%m-%d %H:%M:%S%z")
        print(f"  applied     {applied.version:04d}_{applied.name}  {stamp}")
    for pending in status.pending:
        print(f"  pending     {pending.label}")
    for line in _layout_lines(info.layout):
        print(line)
    return EXIT_OK


async def run_status(args: argparse.Namespace, container: Container) -> int:
    schema = container.settings().database.schema
    info = await _with_pool(container, lambda pool: database_info(pool, schema))
    status = info.migrations
    if status.up_to_date:
        print(f"schema {schema} is up to date at migration {status.current:04d} ({info.path})")
        return EXIT_OK
    pending = ", ".join(m.label for m in status.pending)
    print(
        f"schema {schema} is at migration {status.current:04d}; {len(status.pending)} pending"
        f" ({pending}): run `arbx db upgrade`",
        file=sys.stderr,
    )
    return EXIT_FAILED
