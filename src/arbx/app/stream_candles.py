"""Store a live candle stream: the venue's closed candles into the bar store.

As ``StreamTrades``: a bounded queue between the socket and the store (the reader waits
when it is full: candles are never dropped), writes batched by ``batch_size`` candles or
``flush_ms``, grouped per series; the bar store's upsert makes a candle sent again after a
reconnect harmless. A stop writes what was received before ``run`` returns. Counters go
into the source's ``StreamStats`` (``stored``: bars inserted or changed; queue depth and
high-water mark; lag from the candle's close to stored).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from arbx.app.stream_run import until_stopped
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey
from arbx.domain.market.streams import Candle, candles_frame
from arbx.ports.bar_store import BarStore
from arbx.ports.candle_stream import CandleSource
from arbx.ports.trade_stream import StreamStats


@dataclass(slots=True)
class CandleReport:
    stream: StreamStats
    stored: int = 0
    writes: int = 0
    per_series: dict[str, int] = field(default_factory=dict)
    error: str | None = None


class StreamCandles:
    def __init__(
        self,
        bars: BarStore,
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
        self._bars = bars
        self._batch_size = batch_size
        self._flush_s = flush_ms / 1000.0
        self._queue_size = queue_size
        self._clock = clock

    async def run(self, source: CandleSource, stop: asyncio.Event) -> CandleReport:
        """Write ``source``'s closed candles until ``stop`` is set or the source ends or
        fails (its error is raised after what was received is written)."""
        report = CandleReport(source.stats)
        stats = source.stats
        stats.queue_size = self._queue_size
        if stats.started_at is None:
            stats.started_at = self._clock()
        queue: asyncio.Queue[Candle | None] = asyncio.Queue(self._queue_size)

        async def read() -> None:
            try:
                async for batch in source.batches():
                    for candle in batch:
                        await queue.put(candle)
                    stats.queue_depth = queue.qsize()
                    stats.queue_max = max(stats.queue_max, stats.queue_depth)
            finally:
                await queue.put(None)

        error = await until_stopped(
            read(), self._write(queue, report), stop, lambda: queue.put(None)
        )
        if error is not None:
            report.error = str(error)
            raise error
        return report

    async def _write(self, queue: asyncio.Queue[Candle | None], report: CandleReport) -> None:
        loop = asyncio.get_running_loop()
        done = False
        while not done:
            item = await queue.get()
            if item is None:
                break
            batch = [item]
            deadline = loop.time() + self._flush_s
            while len(batch) < self._batch_size:
                if queue.empty():  # wait for more only when nothing is queued
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        break
                else:
                    item = queue.get_nowait()
                if item is None:
                    done = True
                    break
                batch.append(item)
            report.stream.queue_depth = queue.qsize()
            await self._store(batch, report)

    async def _store(self, batch: list[Candle], report: CandleReport) -> None:
        by_series: dict[SeriesKey, list[Candle]] = defaultdict(list)
        for candle in batch:
            by_series[candle.key].append(candle)
        now_ms = self._clock() * 1000.0
        for key, candles in by_series.items():
            changed = await self._bars.write(key, candles_frame(candles))
            report.writes += 1
            report.stored += changed
            report.stream.stored += changed
            report.per_series[str(key)] = report.per_series.get(str(key), 0) + changed
            for candle in candles:  # from the candle's close to stored
                report.stream.lag.add(now_ms - (candle.ts_ms + key.timeframe.ms))
