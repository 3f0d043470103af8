"""Process runtime: open resources before serving, close them after; logging set-up."""

from __future__ import annotations

import logging

from arbx.entrypoints.container import Container


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )


async def start(container: Container) -> None:
    """Open the container's resources (databases, pools, sessions) and apply migrations."""
    result = container.init_resources()
    if result is not None:
        await result


async def stop(container: Container) -> None:
    result = container.shutdown_resources()
    if result is not None:
        await result
