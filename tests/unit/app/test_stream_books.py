"""StreamQuotes and StreamBooks with in-memory sources and a slow store: the backpressure
policy is explicit (block stores everything; drop drops quotes and diffs, counted, never
snapshots), a stop stores what was received, and bad settings are refused."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import polars as pl
import pytest

from arbx.adapters.memory.book_store import MemoryBookStore
from arbx.app.stream_books import RecordReport, StreamBooks, StreamQuotes
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol, TimeSpan
from arbx.domain.market.books import BookUpdate, Quote
from arbx.domain.market.trades import TradeKey
from arbx.domain.orderbook.book import BookDiff, BookSnapshot
from arbx.ports.trade_stream import StreamStats

KEY = TradeKey("kraken", Symbol("BTC", "USD"))
T0 = 1_700_000_000_000_000


class SlowStore(MemoryBookStore):
    async def write_quotes(self, key: TradeKey, quotes: pl.DataFrame) -> int:
        await asyncio.sleep(0.01)
        return await super().write_quotes(key, quotes)

    async def write_book(self, key: TradeKey, rows: pl.DataFrame) -> int:
        await asyncio.sleep(0.01)
        return await super().write_book(key, rows)


class Quotes:
    def __init__(self, n: int) -> None:
        self.n = n
        self.stats = StreamStats("kraken")

    async def batches(self) -> AsyncIterator[list[Quote]]:
        for i in range(self.n):
            yield [Quote(KEY, T0 + i, 100.0 + i, 1.0, 101.0 + i, 1.0)]


class Books:
    """A snapshot, ``n`` diffs, and a fresh snapshot when asked for one."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.stats = StreamStats("kraken")
        self.resyncs_asked: list[Symbol] = []

    def request_resync(self, symbol: Symbol) -> None:
        self.resyncs_asked.append(symbol)

    async def batches(self) -> AsyncIterator[list[BookUpdate]]:
        yield [BookUpdate(KEY, BookSnapshot("X", 0, [(1.0, 1.0)], [(2.0, 1.0)]), T0)]
        for i in range(1, self.n + 1):
            if self.resyncs_asked and i % 10 == 0:
                self.resyncs_asked.clear()
                snap = BookSnapshot("X", i, [(1.0, float(i))], [(2.0, 1.0)])
                yield [BookUpdate(KEY, snap, T0 + i)]
                continue
            yield [BookUpdate(KEY, BookDiff("X", i, [(1.0, float(i))], []), T0 + i)]


async def run(recorder: StreamQuotes | StreamBooks, source: object) -> RecordReport:
    stop = asyncio.Event()
    return await recorder.run(source, stop)  # type: ignore[arg-type]


@pytest.mark.parametrize("policy", ["block", "drop"])
async def test_quotes_under_each_policy(policy: str) -> None:
    store = SlowStore()
    recorder = StreamQuotes(store, batch_size=1, flush_ms=1, queue_size=2, policy=policy)  # type: ignore[arg-type]
    report = await run(recorder, Quotes(50))
    stored = (await store.read_quotes(KEY, TimeSpan.everything())).height
    assert report.received == 50
    if policy == "block":
        assert (report.dropped, stored) == (0, 50)
    else:
        assert report.dropped > 0
        assert stored == 50 - report.dropped
    assert report.queue_max <= 2
    # the live counters the stream API and /metrics show follow the recorder
    stats = report.stream
    assert (stats.stored, stats.drops, stats.queue_size) == (stored, report.dropped, 2)
    assert stats.queue_max <= 2
    assert len(stats.lag) > 0


async def test_dropped_diffs_wait_for_the_next_snapshot_which_is_never_dropped() -> None:
    store = SlowStore()
    source = Books(60)
    recorder = StreamBooks(store, batch_size=1, flush_ms=1, queue_size=2, policy="drop")
    report = await run(recorder, source)
    assert report.dropped > 0
    rows = await store.read_book(KEY, TimeSpan.everything())
    snapshots = rows.filter(pl.col("kind") == "snapshot")["sequence"].to_list()
    assert snapshots[0] == 0
    assert len(snapshots) >= 2  # a drop asked for a fresh snapshot, and it was stored
    # after each drop no diff is stored until a snapshot: every stored diff follows on
    sequences = rows.sort("sequence")[["sequence", "kind"]].rows()
    for (before, _), (after, kind) in itertools.pairwise(sequences):
        assert kind == "snapshot" or after == before + 1


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidInput, match="policy 'lossy'"):
        StreamQuotes(MemoryBookStore(), policy="lossy")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="batch_size"):
        StreamBooks(MemoryBookStore(), batch_size=0)
