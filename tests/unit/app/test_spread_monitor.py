"""MonitorSpreads over in-memory quote sources: opportunities stored as they close, current
spreads, the spread_above signal, and a stop that records what still stood."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

from arbx.adapters.memory.spread_store import MemorySpreadStore
from arbx.app.spread_monitor import MonitorSpreads
from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.market import Symbol, to_ms
from arbx.domain.market.books import Quote
from arbx.domain.market.trades import TradeKey
from arbx.domain.streams.spreads import SpreadLeg, SpreadPair
from arbx.ports.quote_stream import QuoteSource
from arbx.ports.trade_stream import StreamFailed, StreamStats

BTC_USDC = Symbol.parse("BTC/USDC")
T0 = datetime(2025, 1, 1, tzinfo=UTC)
T0_US = to_ms(T0) * 1000
S = 1_000_000
NO_FEES = {v: FeeSchedule() for v in ("binance", "coinbase", "kraken")}


class Clock:
    def __init__(self) -> None:
        self.moment = T0

    def now(self) -> datetime:
        return self.moment


class ListQuotes(QuoteSource):
    """Quote batches from a list, each after ``pause`` seconds; then it waits or fails."""

    def __init__(
        self, venue: str, batches: Sequence[list[Quote]], *, fail: bool = False, pause: float = 0
    ) -> None:
        self.stats = StreamStats(venue)
        self._batches = batches
        self._fail = fail
        self._pause = pause

    async def batches(self) -> AsyncIterator[list[Quote]]:
        for batch in self._batches:
            await asyncio.sleep(self._pause)
            yield batch
        if self._fail:
            raise StreamFailed(f"{self.stats.venue} lost its connection 10 times")
        await asyncio.Event().wait()  # a live source goes on until cancelled


def q(venue: str, ts: int, bid: float, ask: float) -> Quote:
    return Quote(TradeKey(venue, BTC_USDC), ts, bid, 1.0, ask, 1.0)


PAIR = SpreadPair(
    "btc-usdc",
    tuple(SpreadLeg(v, BTC_USDC) for v in ("binance", "coinbase", "kraken")),
    threshold_bps=0.0,
    max_age_ms=60_000,
)


async def test_opportunities_are_stored_as_they_close_and_signalled() -> None:
    store = MemorySpreadStore()
    signals: list[tuple[str, str, float]] = []
    monitor = MonitorSpreads(
        [PAIR],
        store,
        Clock(),
        fees=NO_FEES,
        signal=lambda kind, subject, value, _: signals.append((kind, subject, value)),
        expire_every_s=0.01,
    )
    binance = ListQuotes("binance", [[q("binance", T0_US, 99.0, 100.0)]])
    coinbase = ListQuotes(
        "coinbase",
        [
            [q("coinbase", T0_US + S, 100.2, 100.3)],  # buy binance 100, sell coinbase 100.2
            [q("coinbase", T0_US + 3 * S, 99.5, 99.6)],  # gone
        ],
        pause=0.02,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run([binance, coinbase], stop))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if await store.history():
            break
    (stored,) = await monitor.history()
    assert (stored.buy, stored.sell) == ("binance:BTC/USDC", "coinbase:BTC/USDC")
    assert (stored.start_us, stored.duration_ms) == (T0_US + S, 2000.0)
    assert stored.peak_net_bps == stored.mean_net_bps
    assert abs(stored.peak_net_bps - 20.0) < 1e-6
    current = {(v.buy, v.sell): v for v in monitor.current()}
    assert current[("binance:BTC/USDC", "coinbase:BTC/USDC")].open_since_us is None
    assert monitor.running
    stop.set()
    report = await task
    assert (report.opened, report.closed, report.stored) == (1, 1, 1)
    assert not monitor.running
    subject = "binance:BTC/USDC>coinbase:BTC/USDC"
    assert next(s for s in signals if s[1] == subject) == ("spread_above", subject, signals[0][2])
    assert signals[0][2] > 19.9  # opened at +20 bps: a spread_above rule at 10 bps would fire


async def test_stop_records_what_still_stands_and_a_failed_source_is_reported() -> None:
    store = MemorySpreadStore()
    monitor = MonitorSpreads([PAIR], store, Clock(), fees=NO_FEES, expire_every_s=0.01)
    sources = [
        ListQuotes("binance", [[q("binance", T0_US, 99.0, 100.0)]]),
        ListQuotes("kraken", [[q("kraken", T0_US + S, 100.5, 100.6)]], fail=True),
    ]
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(sources, stop))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if any(v.open_since_us for v in monitor.current()):
            break
    stop.set()
    report = await task
    assert report.source_errors == ["kraken lost its connection 10 times"]
    (stored,) = await store.history()
    assert (stored.sell, stored.reason) == ("kraken:BTC/USDC", "stopped")


async def test_a_stale_quote_closes_the_opportunity_on_the_wall_clock() -> None:
    store = MemorySpreadStore()
    clock = Clock()
    pair = SpreadPair("p", PAIR.legs[:2], max_age_ms=1000)
    monitor = MonitorSpreads([pair], store, clock, fees=NO_FEES, expire_every_s=0.01)
    sources = [
        ListQuotes("binance", [[q("binance", T0_US, 99.0, 100.0)]]),
        ListQuotes("coinbase", [[q("coinbase", T0_US, 100.5, 100.6)]]),
    ]
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(sources, stop))
    await asyncio.sleep(0.05)
    assert len(monitor.current()) == 2
    clock.moment = datetime(2025, 1, 1, 0, 0, 5, tzinfo=UTC)  # 5 s later, no new quote
    for _ in range(100):
        await asyncio.sleep(0.01)
        if await store.history():
            break
    (stored,) = await store.history()
    assert (stored.reason, stored.duration_ms) == ("stale", 5000.0)
    assert monitor.current() == []  # nothing fresh to show
    stop.set()
    await task
