"""Store a live trade stream: a bounded queue between the socket and the store, batched writes.

The source is read by one task that puts every trade on a queue of ``queue_size``; a second
task takes them off in batches of ``batch_size`` trades or whatever arrived within
``flush_ms``, and writes each pair's batch to the trade store. When the store falls behind,
the queue fills and the reader waits (trades are never dropped; the socket then buffers and
the venue sees a slow reader); ``queue_max`` shows how close it came. Writes are idempotent
by trade id, so trades a venue sends again after a reconnect are stored once
(``duplicates``). On stop (Ctrl-C, shutdown, the time limit) the reader stops and whatever is
queued is written before ``run`` returns: nothing received is lost.

The counters go into the source's ``StreamStats`` as the stream runs (``stored``, the queue's
depth, high-water mark and bound, a bounded sample of lags from trade time to stored), so a
supervisor can show them live. With ``bars`` and ``bar_timeframes``, bars are built from the
stored trades for closed intervals only (``LiveBars``) and written to the bar store.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from arbx.app.stream_buffer import BoundedBuffer
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Timeframe
from arbx.domain.market.trades import Trade, TradeKey, trades_frame
from arbx.domain.processing.live_bars import LiveBars
from arbx.ports.bar_store import BarStore
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
    bars_written: int = 0  # bars built from the trades (closed intervals only)
    late_trades: int = 0  # trades of an interval whose bar was already built
    reconnects_seen: int = 0  # the source's reconnects when bars were last built

    @property
    def lag_ms_p50(self) -> float | None:
        return self.stream.lag.percentile(0.5)

    @property
    def lag_ms_p99(self) -> float | None:
        return self.stream.lag.percentile(0.99)


class StreamTrades:
    def __init__(
        self,
        store: TradeStore,
        *,
        batch_size: int = 500,
        flush_ms: float = 1000.0,
        queue_size: int = 10_000,
        clock: Callable[[], float] = time.time,
        bars: BarStore | None = None,
        bar_timeframes: Sequence[Timeframe] = (),
        bars_grace_ms: int = 5_000,
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
        if bar_timeframes and bars is None:
            raise InvalidInput("bars from trades need a bar store", field="bars")
        self._bars = bars
        self._bar_timeframes = tuple(bar_timeframes)
        self._bars_grace_ms = bars_grace_ms

    async def run(self, source: TradeSource, stop: asyncio.Event) -> StreamReport:
        """Store ``source``'s trades until ``stop`` is set or the source ends or fails (its
        error is raised after what was received is stored)."""
        report = StreamReport(source.stats)
        stats = source.stats
        stats.queue_size = self._queue_size
        if stats.started_at is None:
            stats.started_at = self._clock()
        buffer: BoundedBuffer[Trade] = BoundedBuffer(self._queue_size)
        live = LiveBars(self._bar_timeframes, grace_ms=self._bars_grace_ms)

        async def read() -> None:
            try:
                async for batch in source.batches():
                    await buffer.put_many(batch)
                    stats.queue_depth = len(buffer)
                    stats.queue_max = report.queue_max = buffer.high_water
            finally:
                buffer.close()

        reader = asyncio.create_task(read())
        stopper = asyncio.create_task(stop.wait())
        writer = asyncio.create_task(self._write(buffer, report, live))
        try:
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not reader.done():
                reader.cancel()
            stopper.cancel()
            await asyncio.gather(reader, stopper, return_exceptions=True)
            buffer.close()
            await writer  # drains the buffer: what was received is stored
        if not reader.cancelled() and (exc := reader.exception()) is not None:
            report.error = str(exc)
            raise exc
        return report

    async def _write(
        self, buffer: BoundedBuffer[Trade], report: StreamReport, live: LiveBars
    ) -> None:
        while batch := await buffer.take(self._batch_size, self._flush_s):
            report.stream.queue_depth = len(buffer)
            await self._store_batch(batch, report)
            if live.timeframes:
                await self._build_bars(batch, report, live)

    async def _build_bars(self, batch: list[Trade], report: StreamReport, live: LiveBars) -> None:
        if report.stream.reconnects != report.reconnects_seen:
            report.reconnects_seen = report.stream.reconnects
            live.reconnected()  # the intervals open across the reconnect may lack trades
        live.add(batch)
        assert self._bars is not None
        for key, bars in live.close(int(self._clock() * 1000)):
            report.bars_written += await self._bars.write(key, bars)
        report.late_trades = live.late

    async def _store_batch(self, batch: list[Trade], report: StreamReport) -> None:
        first = batch[0].key
        if all(t.key is first for t in batch):  # one pair (the common case): no regrouping
            by_pair: dict[TradeKey, list[Trade]] = {first: batch}
        else:
            by_pair = defaultdict(list)
            for trade in batch:
                by_pair[trade.key].append(trade)
        for key, trades in by_pair.items():
            new = await self._store.write(key, trades_frame(trades))
            report.writes += 1
            report.stored += new
            report.stream.stored += new
            report.duplicates += len(trades) - new
            report.per_pair[str(key)] = report.per_pair.get(str(key), 0) + new
        now_ms = self._clock() * 1000.0
        window = report.stream.lag
        newest = 0
        for trade in batch:  # every trade's lag from its exchange time to stored
            window.add(now_ms - trade.ts_us / 1000.0)
            if trade.ts_us > newest:
                newest = trade.ts_us
        lag = now_ms - newest / 1000.0
        report.lag_ms_last = lag
        report.lag_ms_max = window.max_ms
