"""The live spread monitor as a use case: quote sources in, spreads and opportunities out.

``MonitorSpreads.run(sources, stop)`` reads every ``QuoteSource`` at once (each in its own
task, into one bounded queue), feeds the quotes to the domain's ``SpreadMonitor``, stores each
closed opportunity in the ``SpreadStore`` as it closes, and closes what still stands when
``stop`` is set (recorded with reason ``stopped``). ``current()`` is what the monitor sees
now (``GET /api/v1/spreads``); ``history()`` reads the store. Opportunities whose quotes go
stale are closed on a timer by the wall clock (``max_age_ms`` of their pair).

For alerting, each opened and closed opportunity, and a standing one's net spread at most
once a second, is reported as a ``spread_above`` signal (subject ``BUY>SELL``), which the
``spread_above`` alert rules read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence

import msgspec

from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.errors import ExternalError
from arbx.domain.market import to_ms
from arbx.domain.market.books import Quote
from arbx.domain.streams.spreads import (
    SpreadEvent,
    SpreadMonitor,
    SpreadOpportunity,
    SpreadPair,
    SpreadView,
)
from arbx.ports.clock import Clock
from arbx.ports.quote_stream import QuoteSource
from arbx.ports.spread_store import SpreadStore

log = logging.getLogger(__name__)

Signal = Callable[[str, str, float, str], None]
"""``Observations.signal(kind, subject, value, detail)``."""
SIGNAL_KIND = "spread_above"


class SpreadRunReport(msgspec.Struct, frozen=True):
    quotes: int
    opened: int
    closed: int
    stored: int
    source_errors: list[str]


class MonitorSpreads:
    def __init__(
        self,
        pairs: Sequence[SpreadPair],
        store: SpreadStore,
        clock: Clock,
        *,
        fees: Mapping[str, FeeSchedule] | None = None,
        signal: Signal | None = None,
        expire_every_s: float = 1.0,
        queue_size: int = 10_000,
    ) -> None:
        self._pairs = list(pairs)
        self._fees = dict(fees or {})
        self._store = store
        self._clock = clock
        self._signal = signal
        self._expire_every_s = expire_every_s
        self._queue_size = queue_size
        self._monitor = SpreadMonitor(self._pairs, self._fees)
        self._signalled: dict[str, int] = {}
        self.running = False

    @property
    def pairs(self) -> list[SpreadPair]:
        return list(self._pairs)

    def current(self) -> list[SpreadView]:
        return self._monitor.current()

    async def history(
        self,
        *,
        pair: str | None = None,
        start_us: int | None = None,
        end_us: int | None = None,
        limit: int = 100,
    ) -> list[SpreadOpportunity]:
        return await self._store.history(pair=pair, start_us=start_us, end_us=end_us, limit=limit)

    async def run(self, sources: Sequence[QuoteSource], stop: asyncio.Event) -> SpreadRunReport:
        """Monitor until ``stop`` is set (or every source has ended)."""
        queue: asyncio.Queue[list[Quote] | None] = asyncio.Queue(self._queue_size)
        errors: list[str] = []

        async def read(source: QuoteSource) -> None:
            try:
                async for batch in source.batches():
                    await queue.put(batch)
            except ExternalError as exc:
                log.warning("a quote source of the spread monitor stopped: %s", exc)
                errors.append(str(exc))
            finally:
                await queue.put(None)

        readers = [asyncio.create_task(read(s)) for s in sources]
        quotes = opened = closed = stored = 0
        ended = 0
        self.running = True
        try:
            while not stop.is_set() and ended < len(readers):
                try:
                    batch = await asyncio.wait_for(queue.get(), self._expire_every_s)
                except TimeoutError:
                    batch = []
                if batch is None:
                    ended += 1
                    continue
                quotes += len(batch)
                events = self._monitor.update(batch)
                events += self._monitor.expire(self._now_us())
                o, c, s = await self._handle(events)
                opened, closed, stored = opened + o, closed + c, stored + s
                self._signal_standing()
        finally:
            for task in readers:
                task.cancel()
            for task in readers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            events = self._monitor.stop(self._now_us())
            o, c, s = await self._handle(events)
            opened, closed, stored = opened + o, closed + c, stored + s
            self.running = False
        return SpreadRunReport(quotes, opened, closed, stored, errors)

    # -- events -------------------------------------------------------------------------------

    def _now_us(self) -> int:
        return to_ms(self._clock.now()) * 1000

    async def _handle(self, events: Sequence[SpreadEvent]) -> tuple[int, int, int]:
        done = [e.opportunity for e in events if e.kind == "closed" and e.opportunity is not None]
        stored = await self._store.record(done) if done else 0
        for event in events:
            subject = f"{event.buy}>{event.sell}"
            if self._signal is not None:
                detail = f"{event.pair}: opportunity {event.kind} at {event.net_bps:.2f} bps net"
                self._signal(SIGNAL_KIND, subject, event.net_bps, detail)
                self._signalled[subject] = event.at_us
        opened = sum(e.kind == "opened" for e in events)
        return opened, len(done), stored

    def _signal_standing(self) -> None:
        if self._signal is None:
            return
        for view in self._monitor.current():
            if view.open_since_us is None:
                continue
            subject = f"{view.buy}>{view.sell}"
            if view.ts_us - self._signalled.get(subject, 0) >= 1_000_000:
                self._signal(SIGNAL_KIND, subject, view.net_bps, f"{view.pair}: net spread now")
                self._signalled[subject] = view.ts_us
