"""Process runtime: open resources before serving, close them after; logging set-up.

Light to import (no container, no driver): the CLI's fast commands use ``resolve`` and
``configure_logging`` without loading what the server needs.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from arbx.entrypoints.container import Container

log = logging.getLogger(__name__)
T = TypeVar("T")


async def resolve(provider: Callable[[], T | Awaitable[T]]) -> T:
    """Call a provider (the container's, or the CLI's light path's); await the result when
    it depends on an async resource."""
    value = provider()
    if inspect.isawaitable(value):
        return await value
    return value


def configure_logging(level: str, format: str = "text") -> None:
    """Text lines, or JSON lines with trace, span and request ids (``logging.format``)."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    if format == "json":
        from arbx.adapters.telemetry.logs import JsonLogFormatter

        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonLogFormatter())


def _profile_resources(container: Container) -> list[Any]:
    """The resources the active profile uses (the other profile's stay closed)."""
    if container.settings().profile == "server":
        return [container.postgres_pool, container.http_session]
    return [container.sqlite, container.http_session]


async def start(container: Container) -> None:
    """Open the profile's resources (databases, pools, sessions); migrations run on open.

    Server profile: the pool waits for PostgreSQL with backoff for at most
    ``database.startup_retry_s`` (then ``StorageUnavailable``: the process exits with the
    reason, no crash loop, no hang); then pending migrations are applied when
    ``database.migrate_on_start``, else the schema must be at head already. A database newer
    than this code fails with a clear ``StorageError``. On any failure what was opened closes.
    """
    opened: list[Any] = []
    try:
        for resource in _profile_resources(container):
            result = resource.init()
            if inspect.isawaitable(result):
                await result
            opened.append(resource)
        if container.settings().profile == "server":
            await prepare_database(container)
    except BaseException:
        for resource in reversed(opened):
            result = resource.shutdown()
            if inspect.isawaitable(result):
                await result
        raise


async def prepare_database(container: Container) -> None:
    """Migrate (``migrate_on_start``) or check the server profile's schema; log the path."""
    from arbx.adapters.postgres.migrate import check_database, upgrade_database

    database = container.settings().database
    pool = await resolve(container.postgres_pool)
    if database.migrate_on_start:
        result = await upgrade_database(pool, database.schema, container.database_layout())
        log.info(
            "PostgreSQL schema %s at migration %04d (applied now: %s); storage path %s: %s",
            database.schema,
            result.version,
            ", ".join(result.applied) or "none",
            result.layout.path,
            result.layout.reason,
        )
    else:
        status = await check_database(pool, database.schema)
        log.info("PostgreSQL schema %s at migration %04d", database.schema, status.current)


async def start_scheduler(container: Container) -> None:
    """Bring the config's jobs ([[scheduler.jobs]]) into the store, then start the runner
    when [scheduler] enabled (call after ``start``: the store must be open)."""
    settings = container.settings()
    sync = await resolve(container.sync_config_jobs)
    await sync.execute(settings.scheduler.jobs)
    if settings.scheduler.enabled:
        runner = await resolve(container.job_runner)
        await runner.start()


async def stop_scheduler(container: Container) -> None:
    """Stop the runner (runs in flight get the shutdown grace, then are cancelled; none is
    left marked running). Call before ``stop`` closes the stores."""
    if container.settings().scheduler.enabled:
        runner = await resolve(container.job_runner)
        await runner.stop()


async def stop(container: Container) -> None:
    try:
        for resource in reversed(_profile_resources(container)):
            result = resource.shutdown()
            if inspect.isawaitable(result):
                await result
    finally:
        container.telemetry.shutdown()  # flush spans and metrics (a no-op when never opened)
