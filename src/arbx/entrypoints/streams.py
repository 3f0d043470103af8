"""The registry of live stream channels (for container.py): channel kind -> how to open its
source and which use case stores it (trades, candles, quotes, book). A new kind is one entry
here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from arbx.app.stream_books import StreamBooks, StreamQuotes
from arbx.app.stream_candles import StreamCandles
from arbx.app.stream_supervisor import StreamChannel
from arbx.app.stream_trades import StreamTrades
from arbx.domain.market import Symbol
from arbx.domain.market.streams import StreamSpec
from arbx.domain.streams.spreads import SpreadPair
from arbx.entrypoints.settings import ExchangesSettings
from arbx.ports.bar_store import BarStore
from arbx.ports.book_store import BookStore
from arbx.ports.trade_store import TradeStore

if TYPE_CHECKING:
    import aiohttp


def stream_urls(settings: ExchangesSettings) -> dict[str, str]:
    """Each venue's WebSocket base URL (``[exchanges.<venue>] ws_url``)."""
    return {name: getattr(settings, name).ws_url for name in ("binance", "coinbase", "kraken")}


def _batching(spec: StreamSpec) -> dict[str, Any]:
    return {"batch_size": spec.batch_size, "flush_ms": spec.flush_ms, "queue_size": spec.queue_size}


def stream_channels(
    session: aiohttp.ClientSession,
    trades: TradeStore,
    bars: BarStore,
    urls: Mapping[str, str],
    books: BookStore,
) -> dict[str, StreamChannel]:
    from arbx.adapters.streams.books import WebSocketBooks
    from arbx.adapters.streams.candles import WebSocketCandles
    from arbx.adapters.streams.quotes import WebSocketQuotes
    from arbx.adapters.streams.venues import stream_venue
    from arbx.adapters.streams.websocket import WebSocketTrades

    def _options(spec: StreamSpec) -> dict[str, Any]:
        return {
            "url": spec.url or urls.get(spec.venue),
            "idle_timeout_s": spec.idle_timeout_s,
            "max_attempts": spec.max_attempts,
        }

    def trade_source(spec: StreamSpec) -> WebSocketTrades:
        venue = stream_venue(spec.venue)
        return WebSocketTrades(session, venue, spec.parsed_symbols, **_options(spec))

    def trade_runner(spec: StreamSpec) -> StreamTrades:
        return StreamTrades(
            trades, bars=bars, bar_timeframes=spec.bar_timeframes, **_batching(spec)
        )

    def candle_source(spec: StreamSpec) -> WebSocketCandles:
        return WebSocketCandles.open(
            session, spec.venue, spec.candle_timeframes, spec.parsed_symbols, **_options(spec)
        )

    def candle_runner(spec: StreamSpec) -> StreamCandles:
        return StreamCandles(bars, **_batching(spec))

    def quote_source(spec: StreamSpec) -> WebSocketQuotes:
        return WebSocketQuotes(session, spec.venue, spec.parsed_symbols, **_options(spec))

    def quote_runner(spec: StreamSpec) -> StreamQuotes:
        return StreamQuotes(books, policy=spec.backpressure, **_batching(spec))

    def book_source(spec: StreamSpec) -> WebSocketBooks:
        return WebSocketBooks(session, spec.venue, spec.parsed_symbols, **_options(spec))

    def book_runner(spec: StreamSpec) -> StreamBooks:
        return StreamBooks(books, policy=spec.backpressure, **_batching(spec))

    return {
        "trades": StreamChannel(trade_source, trade_runner),
        "candles": StreamChannel(candle_source, candle_runner),
        "quotes": StreamChannel(quote_source, quote_runner),
        "book": StreamChannel(book_source, book_runner),
    }


def spread_sources(
    session: aiohttp.ClientSession, pairs: Sequence[SpreadPair], urls: Mapping[str, str]
) -> list[Any]:
    """The live quote streams the spread monitor of ``pairs`` reads: one per venue, over every
    market its legs and their conversions name (``[exchanges.<venue>] ws_url``)."""
    from arbx.adapters.streams.quotes import WebSocketQuotes

    markets: dict[str, list[Symbol]] = {}
    for pair in pairs:
        for leg in pair.legs:
            for key in (leg.key, leg.convert):
                if key is not None and key.symbol not in markets.setdefault(key.venue, []):
                    markets[key.venue].append(key.symbol)
    return [
        WebSocketQuotes(session, venue, symbols, url=urls.get(venue))
        for venue, symbols in sorted(markets.items())
    ]
