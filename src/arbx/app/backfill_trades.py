"""Backfill the trade store from a venue's REST trade history, then bars of the span.

Pages are fetched one after the other (each venue client keeps its venue's rate limit) and
each page is stored as it arrives, by the venue's trade id: an interrupted backfill keeps what
it fetched, and running it again fetches the span again but stores only what is missing.
Bars are built afterwards from the stored trades for the intervals inside the span, which the
fetched history covers completely (``TradeBars.write``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import msgspec

from arbx.app.import_trades import BarsBuilt
from arbx.app.trade_bars import TradeBars
from arbx.domain.errors import ExchangeError, InvalidInput
from arbx.domain.market import Exchange, Timeframe, TimeSpan, from_ms, to_ms
from arbx.domain.market.trades import TradeKey
from arbx.ports.bar_store import BarStore
from arbx.ports.clock import Clock
from arbx.ports.trade_history import TradeHistory
from arbx.ports.trade_store import TradeStore

Progress = Callable[[int, int, datetime | None], None]
"""Called after each page with (trades fetched, trades new to the store, the time reached)."""


class BackfillTradesReport(msgspec.Struct, frozen=True):
    key: TradeKey
    start: datetime
    end: datetime
    fetched: int  # trades the venue sent inside the span (a trade on two pages counts twice)
    stored: int  # trades new to the store
    pages: int
    bars: list[BarsBuilt]


class BackfillTrades:
    def __init__(
        self,
        sources: Mapping[Exchange, TradeHistory],
        trades: TradeStore,
        bars: BarStore,
        clock: Clock,
    ) -> None:
        self._sources = sources
        self._trades = trades
        self._bar_builder = TradeBars(trades, bars)
        self._clock = clock

    def source(self, venue: str) -> TradeHistory:
        found = self._sources.get(Exchange(venue))
        if found is None:
            known = ", ".join(sorted(str(v) for v in self._sources)) or "none"
            raise InvalidInput(
                f"venue {venue} has no trade history client; configured: {known}"
                f" (enable it in [exchanges.{venue}])",
                field="venue",
            )
        return found

    async def execute(
        self,
        key: TradeKey,
        span: TimeSpan,
        timeframes: Sequence[Timeframe] = (),
        progress: Progress | None = None,
    ) -> BackfillTradesReport:
        source = self.source(key.venue)
        end_ms = min(span.end_ms, to_ms(self._clock.now()))
        if end_ms <= span.start_ms:
            raise InvalidInput(
                f"the span {from_ms(span.start_ms):%Y-%m-%d %H:%M} .. is not in the past;"
                " the trade history ends now",
                field="start",
            )
        start_us, end_us = span.start_ms * 1000, end_ms * 1000
        fetched = stored = pages = 0
        cursor: str | None = None
        try:
            while True:
                page = await source.fetch_trades(key.symbol, start_us, end_us, cursor)
                pages += 1
                if not page.trades.is_empty():
                    fetched += page.trades.height
                    stored += await self._trades.write(key, page.trades)
                if progress is not None:
                    newest = None
                    if not page.trades.is_empty():
                        newest = from_ms(int(page.trades.get_column("ts").dt.epoch("ms").max()))  # type: ignore[arg-type]
                    progress(fetched, stored, newest)
                cursor = page.cursor
                if cursor is None:
                    break
        except ExchangeError as exc:
            exc.message = (
                f"{exc.message} (after {pages} page(s): {stored:,} new trade(s) of {key} are"
                " stored; run the same backfill again to go on, stored trades are skipped)"
            )
            raise
        built = await self._bar_builder.write(key, sorted(set(timeframes)), span.start_ms, end_ms)
        return BackfillTradesReport(
            key=key,
            start=from_ms(span.start_ms),
            end=from_ms(end_ms),
            fetched=fetched,
            stored=stored,
            pages=pages,
            bars=[
                BarsBuilt(
                    tf,
                    written,
                    from_ms(-(-span.start_ms // tf.ms) * tf.ms),
                    from_ms(end_ms // tf.ms * tf.ms),
                )
                for tf, written in built.items()
            ],
        )
