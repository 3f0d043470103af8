"""The task shape every queued stream recorder shares (quotes, books, candles): a reader fills
a queue from the source, a writer drains it into the store, and a stop ends the reader.

``until_stopped`` runs the reader until it ends or ``stop`` is set, then lets the writer
drain what was queued (the end marker is put once the reader has gone, even when it was
cancelled mid-put) and returns the reader's error, if any, for the caller to raise after
everything received was stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any


async def until_stopped(
    read: Coroutine[Any, Any, None],
    write: Coroutine[Any, Any, None],
    stop: asyncio.Event,
    end: Callable[[], Awaitable[None]],
) -> BaseException | None:
    """``read`` must call ``end()`` when it finishes on its own; ``end`` puts the writer's
    end marker on the queue."""
    reader = asyncio.create_task(read)
    stopper = asyncio.create_task(stop.wait())
    writer = asyncio.create_task(write)
    try:
        await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not reader.done():
            reader.cancel()
        stopper.cancel()
        await asyncio.gather(reader, stopper, return_exceptions=True)
        if reader.cancelled():
            await end()
        await writer  # drains the queue: what was received and kept is stored
    return None if reader.cancelled() else reader.exception()
