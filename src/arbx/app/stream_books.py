"""Store a live quote or book stream: a bounded queue between the socket and the store,
batched writes, and an explicit policy for when the store falls behind.

As ``StreamTrades``: one task reads the source and puts every item on a queue of
``queue_size``; a second takes them off in batches of ``batch_size`` items or whatever arrived
within ``flush_ms`` and writes each pair's batch to the book store (idempotent: items a venue
sends again after a reconnect are stored once and counted as duplicates). On stop, whatever
is queued is written before ``run`` returns.

Backpressure (``policy``):

- ``"block"`` (the default): a full queue makes the reader wait; nothing is dropped (the
  socket buffers and the venue sees a slow reader).
- ``"drop"``: when the queue is full, a quote or a book DIFF is dropped and counted
  (``dropped``); snapshots are never dropped. A dropped diff breaks the recorded book of its
  pair, so the recorder drops that pair's diffs until its next snapshot and asks the source
  for one at once (``BookSource.request_resync``): what is stored is a snapshot and diffs
  that apply to it, a hole, then a fresh snapshot, never a book that silently went wrong.
  (Trades are never dropped: ``StreamTrades`` has no such policy.)
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

from arbx.app.stream_run import until_stopped
from arbx.domain.errors import InvalidInput
from arbx.domain.market.books import BookUpdate, Quote, book_frame, quotes_frame
from arbx.domain.market.trades import TradeKey
from arbx.domain.orderbook.book import BookSnapshot
from arbx.ports.book_store import BookStore
from arbx.ports.book_stream import BookSource
from arbx.ports.quote_stream import QuoteSource
from arbx.ports.trade_stream import StreamStats

Policy = Literal["block", "drop"]
POLICIES: tuple[Policy, ...] = ("block", "drop")
T = TypeVar("T", Quote, BookUpdate)


class _Source(Protocol[T]):
    stats: StreamStats

    def batches(self) -> AsyncIterator[list[T]]: ...


@dataclass(slots=True)
class RecordReport:
    """What a quote or book stream run received and stored (``stream``: the source's own
    counters; ``stored``/``duplicates`` count rows: a quote is one row, a book update one row
    per level)."""

    stream: StreamStats
    channel: str
    policy: Policy
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    writes: int = 0
    dropped: int = 0
    queue_max: int = 0
    lag_ms_last: float | None = None  # store time minus the newest item's time, last batch
    lag_ms_max: float | None = None
    per_pair: dict[str, int] = field(default_factory=dict)
    error: str | None = None


class _Record(Generic[T]):
    channel = ""

    def __init__(
        self,
        store: BookStore,
        *,
        batch_size: int = 500,
        flush_ms: float = 1000.0,
        queue_size: int = 10_000,
        policy: Policy = "block",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if batch_size < 1 or queue_size < 1 or flush_ms <= 0:
            raise InvalidInput(
                "batch_size and queue_size must be >= 1 and flush_ms > 0", field="streams"
            )
        if policy not in POLICIES:
            raise InvalidInput(
                f"backpressure policy {policy!r} is not one of {', '.join(POLICIES)}",
                field="policy",
            )
        self._store = store
        self._batch_size = batch_size
        self._flush_s = flush_ms / 1000.0
        self._queue_size = queue_size
        self._policy: Policy = policy
        self._clock = clock

    # -- what differs between quotes and books ------------------------------------------------

    def _key(self, item: T) -> TradeKey:
        raise NotImplementedError

    def _ts_us(self, item: T) -> int:
        raise NotImplementedError

    async def _write_pair(self, key: TradeKey, items: list[T]) -> tuple[int, int]:
        """Write one pair's items: (rows offered, rows new)."""
        raise NotImplementedError

    async def _enqueue(
        self, queue: asyncio.Queue[T | None], item: T, source: _Source[T], report: RecordReport
    ) -> None:
        """Put ``item`` on the queue under the policy (the default: quotes)."""
        if self._policy == "block":
            await queue.put(item)
            return
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            report.dropped += 1
            report.stream.drops += 1

    # -- the run --------------------------------------------------------------------------------

    async def _run(self, source: _Source[T], stop: asyncio.Event) -> RecordReport:
        report = RecordReport(source.stats, self.channel, self._policy)
        stats = source.stats  # the live counters GET /api/v1/streams and /metrics show
        stats.queue_size = self._queue_size
        if stats.started_at is None:
            stats.started_at = self._clock()
        queue: asyncio.Queue[T | None] = asyncio.Queue(self._queue_size)

        async def read() -> None:
            try:
                async for batch in source.batches():
                    report.received += len(batch)
                    for item in batch:
                        await self._enqueue(queue, item, source, report)
                    report.queue_max = max(report.queue_max, queue.qsize())
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

    async def _write(self, queue: asyncio.Queue[T | None], report: RecordReport) -> None:
        loop = asyncio.get_running_loop()
        done = False
        while not done:
            item = await queue.get()
            if item is None:
                break
            batch: list[T] = [item]
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

    async def _store_batch(self, batch: list[T], report: RecordReport) -> None:
        by_pair: dict[TradeKey, list[T]] = defaultdict(list)
        for item in batch:
            by_pair[self._key(item)].append(item)
        for key, items in by_pair.items():
            offered, new = await self._write_pair(key, items)
            report.writes += 1
            report.stored += new
            report.stream.stored += new
            report.duplicates += offered - new
            report.per_pair[str(key)] = report.per_pair.get(str(key), 0) + new
        newest = max(self._ts_us(item) for item in batch)
        lag = self._clock() * 1000.0 - newest / 1000.0
        report.lag_ms_last = lag
        report.stream.lag.add(lag)
        report.lag_ms_max = lag if report.lag_ms_max is None else max(report.lag_ms_max, lag)


class StreamQuotes(_Record[Quote]):
    """Record a quote stream (``policy="drop"`` may drop quotes when the store lags)."""

    channel = "quotes"

    def _key(self, item: Quote) -> TradeKey:
        return item.key

    def _ts_us(self, item: Quote) -> int:
        return item.ts_us

    async def _write_pair(self, key: TradeKey, items: list[Quote]) -> tuple[int, int]:
        return len(items), await self._store.write_quotes(key, quotes_frame(items))

    async def run(self, source: QuoteSource, stop: asyncio.Event) -> RecordReport:
        """Store ``source``'s quotes until ``stop`` is set or the source ends or fails (its
        error is raised after what was received is stored)."""
        return await self._run(source, stop)


class StreamBooks(_Record[BookUpdate]):
    """Record a book stream (``policy="drop"`` may drop diffs, never snapshots; see the
    module docstring for how a dropped diff is healed)."""

    channel = "book"

    def __init__(
        self,
        store: BookStore,
        *,
        batch_size: int = 500,
        flush_ms: float = 1000.0,
        queue_size: int = 10_000,
        policy: Policy = "block",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            store,
            batch_size=batch_size,
            flush_ms=flush_ms,
            queue_size=queue_size,
            policy=policy,
            clock=clock,
        )
        self._broken: set[TradeKey] = set()

    def _key(self, item: BookUpdate) -> TradeKey:
        return item.key

    def _ts_us(self, item: BookUpdate) -> int:
        return item.ts_us

    async def _enqueue(
        self,
        queue: asyncio.Queue[BookUpdate | None],
        item: BookUpdate,
        source: _Source[BookUpdate],
        report: RecordReport,
    ) -> None:
        if isinstance(item.update, BookSnapshot):
            self._broken.discard(item.key)
            await queue.put(item)  # a snapshot is never dropped: it heals
            return
        if item.key in self._broken:
            report.dropped += 1  # its book is broken here until the next snapshot
            report.stream.drops += 1
            return
        if self._policy == "block":
            await queue.put(item)
            return
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            report.dropped += 1
            report.stream.drops += 1
            self._broken.add(item.key)
            resync = getattr(source, "request_resync", None)
            if resync is not None:
                resync(item.key.symbol)

    async def _write_pair(self, key: TradeKey, items: list[BookUpdate]) -> tuple[int, int]:
        frame = book_frame([i.update for i in items], ts_us=[i.ts_us for i in items])
        return frame.height, await self._store.write_book(key, frame)

    async def run(self, source: BookSource, stop: asyncio.Event) -> RecordReport:
        """Store ``source``'s book updates until ``stop`` is set or the source ends or fails
        (its error is raised after what was received is stored)."""
        self._broken.clear()
        return await self._run(source, stop)
