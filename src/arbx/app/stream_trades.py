"""Store a live trade stream: a bounded queue between the socket and the store, batched writes.

The source is read by one task that puts every trade on a queue of ``queue_size``; a second
task takes them off in batches of ``batch_size`` trades or whatever arrived within
``flush_ms``, and writes each pair's batch to the trade store. When the store falls behind,
the queue fills and the reader waits (trades are never dropped; the socket then buffers and
the venue sees a slow reader); ``queue_max`` shows how close it came. Writes are idempotent
by trade id, so trades a venue sends again after a reconnect are stored once
(``duplicates``). On stop (Ctrl-C, shutdown, the time limit) the reader stops and whatever is
queued is written before ``run`` returns: nothing received is lost.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from arbx.domain.errors import InvalidInput
from arbx.domain.market.trades import Trade, TradeKey, trades_frame
from arbx.ports.trade_store import TradeStore
from arbx.ports.trade_stream import StreamStats, TradeSource


@dataclass(slots=True)
class StreamReport:
    """What a stream run received and stored (``stream``: the source's own counters)."""

    stream: StreamStats
    stored: int = 0
    duplicates: int = 0
    writes: int = 0
    queue_max: int = 0
    lag_ms_last: float | None = None  # store time minus trade time of the last batch's newest
    lag_ms_max: float | None = None
    per_pair: dict[str, int] = field(default_factory=dict)
    error: str | None = None


class StreamTrades:
    def __init__(
        self,
        store: TradeStore,
        *,
        batch_size: int = 500,
        flush_ms: float = 1000.0,
        queue_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if batch_size < 1 or queue_size < 1 or flush_ms <= 0:
            raise InvalidInput(
                "batch_size and queue_size must be >= 1 and flush_ms > 0", field="streams"
            )
        self._store = store
        self._batch_size = batch_size
        self._flush_s = flush_ms / 1000.0
        self._queue_size = queue_size
        self._clock = clock

    async def run(self, source: TradeSource, stop: asyncio.Event) -> StreamReport:
        """Store ``source``'s trades until ``stop`` is set or the source ends or fails (its
        error is raised after what was received is stored)."""
        report = StreamReport(source.stats)
        queue: asyncio.Queue[Trade | None] = asyncio.Queue(self._queue_size)

        async def read() -> None:
            try:
                async for batch in source.batches():
                    for trade in batch:
                        await queue.put(trade)
                    report.queue_max = max(report.queue_max, queue.qsize())
            finally:
                await queue.put(None)

        reader = asyncio.create_task(read())
        stopper = asyncio.create_task(stop.wait())
        writer = asyncio.create_task(self._write(queue, report))
        try:
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not reader.done():
                reader.cancel()
            stopper.cancel()
            await asyncio.gather(reader, stopper, return_exceptions=True)
            if reader.cancelled():
                await queue.put(None)
            await writer  # drains the queue: what was received is stored
        if not reader.cancelled() and (exc := reader.exception()) is not None:
            report.error = str(exc)
            raise exc
        return report

    async def _write(self, queue: asyncio.Queue[Trade | None], report: StreamReport) -> None:
        loop = asyncio.get_running_loop()
        done = False
        while not done:
            batch: list[Trade] = []
            item = await queue.get()
            if item is None:
                break
            batch.append(item)
            deadline = loop.time() + self._flush_s
            while len(batch) < self._batch_size:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
                if item is None:
                    done = True
                    break
                batch.append(item)
            await self._store_batch(batch, report)

    async def _store_batch(self, batch: list[Trade], report: StreamReport) -> None:
        by_pair: dict[TradeKey, list[Trade]] = defaultdict(list)
        for trade in batch:
            by_pair[trade.key].append(trade)
        for key, trades in by_pair.items():
            new = await self._store.write(key, trades_frame(trades))
            report.writes += 1
            report.stored += new
            report.duplicates += len(trades) - new
            report.per_pair[str(key)] = report.per_pair.get(str(key), 0) + new
        newest = max(t.ts_us for t in batch)
        lag = self._clock() * 1000.0 - newest / 1000.0
        report.lag_ms_last = lag
        report.lag_ms_max = lag if report.lag_ms_max is None else max(report.lag_ms_max, lag)
