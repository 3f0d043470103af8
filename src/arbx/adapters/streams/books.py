"""L2 order books over each venue's public WebSocket, kept consistent, as ``Channel``s.

Each symbol's book is an ``L2Book`` (the pure core in ``arbx.domain.orderbook.book``); an
update is delivered only once the book accepted it, so what a stream delivers always replays
to the venue's book. When the book is found inconsistent it is dropped (answers nothing:
``current`` raises ``BookNotReady``), the event is counted in the stream's stats and logged,
and a fresh snapshot heals it (counted as a resync):

- Binance spot ``<pair>@depth@100ms`` diffs carry update ids ``U..u``; the book starts from
  the REST snapshot ``GET /api/v3/depth?symbol=..&limit=1000`` (``lastUpdateId``), fetched
  when the first diff arrives (later diffs wait in the socket meanwhile). Diffs with
  ``u <= lastUpdateId`` are dropped, the first applied one has ``U <= lastUpdateId + 1 <= u``
  (a snapshot older than that is fetched again), and each next one must follow on (``U`` is
  the previous ``u + 1``): a gap is counted and a fresh snapshot fetched at once.
- Coinbase Exchange ``level2_batch`` (the public form of ``level2``: the same ``snapshot`` and
  ``l2update`` messages, batched; ``level2`` itself needs an authenticated feed): the
  messages carry no sequence number, so arbx numbers them; a crossed book is the
  inconsistency it can see, healed by subscribing again (the venue answers with a snapshot).
- Kraken WebSocket v2 ``book``: a snapshot and updates, each with a CRC32 checksum of the top
  10 levels (``kraken_checksum``). Prices and quantities are decoded as decimals; the book is
  truncated to the subscribed depth after each update (the venue does not send removals for
  levels that fall out of it). A bad checksum is counted and healed by unsubscribing and
  subscribing again for a fresh snapshot.

Venues without update ids are numbered by the recorder: each message gets the next id, at
least the receive time in µs, so ids keep growing across restarts and stored rows never
collide. Every update's time is after its symbol's previous one (by 1 µs at least), so
time order is delivery order in the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp

from arbx.adapters.streams.binance_book import BinanceBooks
from arbx.adapters.streams.book_channel import BookChannel
from arbx.adapters.streams.coinbase_book import CoinbaseBooks
from arbx.adapters.streams.kraken_book import KrakenBooks, kraken_checksum
from arbx.adapters.streams.quotes import Clock, now_us
from arbx.adapters.streams.websocket import WebSocketStream
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol
from arbx.domain.market.books import BookUpdate
from arbx.domain.orderbook.book import Level
from arbx.domain.orderbook.errors import BookNotReady
from arbx.ports.book_stream import BookSource

BOOK_CHANNELS: dict[str, type[BookChannel]] = {
    c.name: c for c in (BinanceBooks, CoinbaseBooks, KrakenBooks)
}


class WebSocketBooks(WebSocketStream[BookUpdate], BookSource):
    """A venue's L2 books over the shared connection loop (``options`` of the loop; ``rest_url``
    and ``snapshot_limit`` for Binance, ``depth`` for Kraken)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        venue: str,
        symbols: Sequence[Symbol],
        *,
        url: str | None = None,
        rest_url: str | None = None,
        snapshot_limit: int = 1000,
        depth: int = 10,
        clock: Clock = now_us,
        **options: Any,
    ) -> None:
        if not symbols:
            raise ValueError("a stream needs at least one symbol")
        if venue not in BOOK_CHANNELS:
            raise InvalidInput(
                f"no book stream for venue {venue!r}; streams exist for"
                f" {', '.join(sorted(BOOK_CHANNELS))}",
                field="venue",
            )
        unique = list(dict.fromkeys(symbols))
        channel: BookChannel
        if venue == "binance":
            channel = BinanceBooks(
                unique, url, rest_url=rest_url, snapshot_limit=snapshot_limit, clock=clock
            )
        elif venue == "kraken":
            channel = KrakenBooks(unique, url, depth=depth, clock=clock)
        else:
            channel = BOOK_CHANNELS[venue](unique, url, clock=clock)
        self._books = channel
        super().__init__(session, channel, **options)

    def request_resync(self, symbol: Symbol) -> None:
        self._books.request_resync(symbol)

    def current(self, symbol: Symbol, depth: int) -> tuple[list[Level], list[Level]]:
        return self._books.current(symbol, depth)


__all__ = [
    "BOOK_CHANNELS",
    "BinanceBooks",
    "BookNotReady",
    "CoinbaseBooks",
    "KrakenBooks",
    "WebSocketBooks",
    "kraken_checksum",
]
