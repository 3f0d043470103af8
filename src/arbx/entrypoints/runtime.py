"""Process runtime: open resources before serving, close them after; logging set-up."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from arbx.entrypoints.container import Container, resolve


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )


def _profile_resources(container: Container) -> list[Any]:
    """The resources the active profile uses (the other profile's stay closed)."""
    if container.settings().profile == "server":
        return [container.http_session]
    return [container.sqlite, container.http_session]


async def start(container: Container) -> None:
    """Open the profile's resources (databases, pools, sessions); migrations run on open."""
    for resource in _profile_resources(container):
        result = resource.init()
        if inspect.isawaitable(result):
            await result


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
    for resource in reversed(_profile_resources(container)):
        result = resource.shutdown()
        if inspect.isawaitable(result):
            await result
