"""The best bid/ask channels of each venue's public WebSocket, as ``Channel``s of quotes.

- Binance spot combined streams ``<pair>@bookTicker``: ``b``/``B`` best bid and its quantity,
  ``a``/``A`` best ask; the message carries no time, so a quote is stamped when received.
- Coinbase Exchange ``ticker`` channel: ``best_bid``, ``best_bid_size``, ``best_ask``,
  ``best_ask_size`` and the venue's ``time``.
- Kraken WebSocket v2 ``ticker`` channel: ``bid``, ``bid_qty``, ``ask``, ``ask_qty`` per row
  (``timestamp`` when the venue sends one, else the receive time).

A quote the domain refuses (a crossed or non-positive one) is an unreadable message: counted
and skipped, as any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import msgspec

from arbx.adapters.streams.venues import (
    StreamDecodeError,
    _decode,
    _iso_us,
    _num,
    _pair,
)
from arbx.adapters.streams.websocket import Link, WebSocketStream
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol
from arbx.domain.market.books import Quote
from arbx.domain.market.trades import TradeKey
from arbx.ports.quote_stream import QuoteSource
from arbx.ports.trade_stream import StreamRejected

Clock = Callable[[], int]  # epoch µs


def now_us() -> int:
    return time.time_ns() // 1000


def _quote(
    key: TradeKey, ts_us: int, bid: float, bid_qty: float, ask: float, ask_qty: float
) -> Quote:
    try:
        return Quote(key, ts_us, bid, bid_qty, ask, ask_qty)
    except InvalidInput as exc:
        raise StreamDecodeError(f"{key.venue}: {exc}") from exc


class _QuoteChannel:
    name = ""
    default_url = ""

    def __init__(
        self, symbols: Sequence[Symbol], base_url: str | None = None, clock: Clock = now_us
    ) -> None:
        self._symbols = list(symbols)
        self._base = base_url or self.default_url
        self._pairs = {self.venue_symbol(s): s for s in self._symbols}
        self._clock = clock

    @property
    def venue(self) -> str:
        return self.name

    def venue_symbol(self, symbol: Symbol) -> str:
        raise NotImplementedError

    def url(self) -> str:
        return self._base

    def subscribe(self) -> list[dict[str, Any]]:
        return []

    async def on_connect(self, link: Link) -> None:
        return None

    async def handle(self, data: str | bytes, link: Link) -> list[Quote]:
        raise NotImplementedError


# -- Binance ----------------------------------------------------------------------------------


class _BinanceBookTicker(msgspec.Struct):
    s: str
    b: str
    B: str
    a: str
    A: str


class _BinanceCombined(msgspec.Struct):
    stream: str | None = None
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b""))
    code: int | None = None
    msg: str | None = None


class BinanceQuotes(_QuoteChannel):
    name = "binance"
    default_url = "wss://stream.binance.com:9443"

    def venue_symbol(self, symbol: Symbol) -> str:
        return f"{symbol.base}{symbol.quote}"

    def url(self) -> str:
        streams = "/".join(f"{self.venue_symbol(s).lower()}@bookTicker" for s in self._symbols)
        return f"{self._base.rstrip('/')}/stream?streams={streams}"

    async def handle(self, data: str | bytes, link: Link) -> list[Quote]:
        outer = _decode(data, _BinanceCombined, self.name)
        if outer.code is not None:
            raise StreamRejected(f"binance refused the stream: {outer.msg}")
        if not len(outer.data) or not (outer.stream or "").endswith("@bookTicker"):
            return []
        row = _decode(outer.data, _BinanceBookTicker, self.name)
        key = TradeKey(self.name, _pair(self._pairs, row.s, self.name))
        n = self.name
        return [
            _quote(
                key, self._clock(), _num(row.b, n), _num(row.B, n), _num(row.a, n), _num(row.A, n)
            )
        ]


# -- Coinbase Exchange ------------------------------------------------------------------------


class _CoinbaseTicker(msgspec.Struct):
    type: str
    product_id: str | None = None
    best_bid: str | None = None
    best_bid_size: str | None = None
    best_ask: str | None = None
    best_ask_size: str | None = None
    time: str | None = None
    message: str | None = None
    reason: str | None = None


class CoinbaseQuotes(_QuoteChannel):
    name = "coinbase"
    default_url = "wss://ws-feed.exchange.coinbase.com"

    def venue_symbol(self, symbol: Symbol) -> str:
        return f"{symbol.base}-{symbol.quote}"

    def subscribe(self) -> list[dict[str, Any]]:
        products = [self.venue_symbol(s) for s in self._symbols]
        return [{"type": "subscribe", "product_ids": products, "channels": ["ticker"]}]

    async def handle(self, data: str | bytes, link: Link) -> list[Quote]:
        msg = _decode(data, _CoinbaseTicker, self.name)
        if msg.type == "error":
            raise StreamRejected(
                f"coinbase refused the subscription: {msg.message or ''} {msg.reason or ''}".strip()
            )
        if msg.type != "ticker":
            return []  # subscriptions, heartbeat
        fields = (msg.product_id, msg.best_bid, msg.best_bid_size, msg.best_ask, msg.best_ask_size)
        if any(f is None for f in fields):
            raise StreamDecodeError("coinbase: a ticker message lacks a best bid/ask field")
        key = TradeKey(self.name, _pair(self._pairs, str(msg.product_id), self.name))
        ts = _iso_us(msg.time, self.name) if msg.time else self._clock()
        n = self.name
        return [
            _quote(
                key,
                ts,
                _num(str(msg.best_bid), n),
                _num(str(msg.best_bid_size), n),
                _num(str(msg.best_ask), n),
                _num(str(msg.best_ask_size), n),
            )
        ]


# -- Kraken (WebSocket v2) --------------------------------------------------------------------


class _KrakenTicker(msgspec.Struct):
    symbol: str
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    timestamp: str | None = None


class _KrakenMessage(msgspec.Struct):
    channel: str | None = None
    type: str | None = None
    data: list[msgspec.Raw] | None = None
    method: str | None = None
    success: bool | None = None
    error: str | None = None


class KrakenQuotes(_QuoteChannel):
    name = "kraken"
    default_url = "wss://ws.kraken.com/v2"

    def venue_symbol(self, symbol: Symbol) -> str:
        return f"{symbol.base}/{symbol.quote}"

    def subscribe(self) -> list[dict[str, Any]]:
        names = [self.venue_symbol(s) for s in self._symbols]
        return [{"method": "subscribe", "params": {"channel": "ticker", "symbol": names}}]

    async def handle(self, data: str | bytes, link: Link) -> list[Quote]:
        msg = _decode(data, _KrakenMessage, self.name)
        if msg.method is not None:
            if msg.success is False:
                raise StreamRejected(f"kraken refused the subscription: {msg.error or msg}")
            return []
        if msg.channel != "ticker" or not isinstance(msg.data, list):
            return []  # heartbeat, status
        quotes = []
        for raw in msg.data:
            row = _decode(raw, _KrakenTicker, self.name)
            key = TradeKey(self.name, _pair(self._pairs, row.symbol, self.name))
            ts = _iso_us(row.timestamp, self.name) if row.timestamp else self._clock()
            quotes.append(_quote(key, ts, row.bid, row.bid_qty, row.ask, row.ask_qty))
        return quotes


QUOTE_CHANNELS: dict[str, type[_QuoteChannel]] = {
    c.name: c for c in (BinanceQuotes, CoinbaseQuotes, KrakenQuotes)
}


class WebSocketQuotes(WebSocketStream[Quote], QuoteSource):
    """A venue's best bid/ask over the shared connection loop."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        venue: str,
        symbols: Sequence[Symbol],
        *,
        url: str | None = None,
        clock: Clock = now_us,
        **options: Any,
    ) -> None:
        if not symbols:
            raise ValueError("a stream needs at least one symbol")
        kind = QUOTE_CHANNELS.get(venue)
        if kind is None:
            raise InvalidInput(
                f"no quote stream for venue {venue!r}; streams exist for"
                f" {', '.join(sorted(QUOTE_CHANNELS))}",
                field="venue",
            )
        super().__init__(session, kind(list(dict.fromkeys(symbols)), url, clock), **options)

    def _count(self, items: Sequence[Quote]) -> None:
        self.stats.quotes += len(items)
