"""Kraken WebSocket v2 L2 books: snapshot and updates checked by their CRC32 checksum,
truncated to the subscribed depth (see ``books`` for the rules)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec

from arbx.adapters.streams.book_channel import BookChannel
from arbx.adapters.streams.quotes import Clock, now_us
from arbx.adapters.streams.venues import _decode, _iso_us, _pair
from arbx.adapters.streams.websocket import Link
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol
from arbx.domain.market.books import BookUpdate
from arbx.domain.orderbook.book import BookDiff, BookSnapshot, Level
from arbx.ports.trade_stream import StreamRejected


def kraken_checksum(
    asks: Sequence[Level], bids: Sequence[Level], price_decimals: int, qty_decimals: int
) -> int:
    """Kraken's book checksum: CRC32 of the top 10 asks (low to high) then the top 10 bids
    (high to low), each price and quantity written with the pair's decimals, the point and
    leading zeros removed (docs.kraken.com, "Book checksum (WebSocket v2)")."""

    def text(value: float, decimals: int) -> str:
        return f"{value:.{decimals}f}".replace(".", "").lstrip("0")

    parts = [text(p, price_decimals) + text(q, qty_decimals) for p, q in asks[:10]]
    parts += [text(p, price_decimals) + text(q, qty_decimals) for p, q in bids[:10]]
    return zlib.crc32("".join(parts).encode())


class _KrakenLevel(msgspec.Struct):
    price: Decimal
    qty: Decimal


class _KrakenBook(msgspec.Struct):
    symbol: str
    bids: list[_KrakenLevel] = []
    asks: list[_KrakenLevel] = []
    checksum: int | None = None
    timestamp: str | None = None


class _KrakenMessage(msgspec.Struct):
    channel: str | None = None
    type: str | None = None
    data: list[msgspec.Raw] | None = None
    method: str | None = None
    success: bool | None = None
    error: str | None = None


def _decimals(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


class KrakenBooks(BookChannel):
    """Prices and quantities are written in the checksum with the pair's decimals; the wire
    sends them as JSON numbers (trailing zeros dropped), so the decimals are the most seen on
    the pair so far (the snapshot's many levels show them)."""

    name = "kraken"
    default_url = "wss://ws.kraken.com/v2"

    def __init__(
        self,
        symbols: Sequence[Symbol],
        base_url: str | None = None,
        *,
        depth: int = 10,
        clock: Clock = now_us,
    ) -> None:
        if depth not in (10, 25, 100, 500, 1000):
            raise InvalidInput(
                f"kraken book depth {depth} is not one of 10, 25, 100, 500, 1000", field="depth"
            )
        super().__init__(symbols, base_url, clock=clock)
        self._depth = depth
        self._decimals: dict[str, tuple[int, int]] = {}

    def venue_symbol(self, symbol: Symbol) -> str:
        return f"{symbol.base}/{symbol.quote}"

    def _params(self, symbols: list[str]) -> dict[str, Any]:
        return {"channel": "book", "symbol": symbols, "depth": self._depth}

    def subscribe(self) -> list[dict[str, Any]]:
        return [{"method": "subscribe", "params": self._params(list(self._pairs))}]

    async def _resubscribe(self, vs: str, link: Link) -> None:
        await link.send({"method": "unsubscribe", "params": self._params([vs])})
        await link.send({"method": "subscribe", "params": self._params([vs])})

    def _learn(self, vs: str, levels: Sequence[_KrakenLevel]) -> None:
        price, qty = self._decimals.get(vs, (0, 0))
        for level in levels:
            price = max(price, _decimals(level.price))
            qty = max(qty, _decimals(level.qty))
        self._decimals[vs] = (price, qty)

    def _checks(self, vs: str, expected: int | None) -> bool:
        if expected is None:
            return True
        bids, asks = self._books[vs].depth(10)
        price, qty = self._decimals[vs]
        return kraken_checksum(asks, bids, price, qty) == expected

    async def handle(self, data: str | bytes, link: Link) -> list[BookUpdate]:
        msg = _decode(data, _KrakenMessage, self.name)
        if msg.method is not None:
            if msg.success is False:
                raise StreamRejected(f"kraken refused the subscription: {msg.error or msg}")
            return []
        if msg.channel != "book" or not isinstance(msg.data, list):
            return []  # heartbeat, status
        out: list[BookUpdate] = []
        for raw in msg.data:
            row = _decode(raw, _KrakenBook, self.name)
            _pair(self._pairs, row.symbol, self.name)
            update = await self._row(row, msg.type, link)
            if update is not None:
                out.append(update)
        return out

    async def _row(self, row: _KrakenBook, kind: str | None, link: Link) -> BookUpdate | None:
        vs = row.symbol
        if vs in self._wanted:
            self._wanted.discard(vs)
            self._drop(vs)
            self._healing.add(vs)
            await self._resubscribe(vs, link)
            return None
        now = self._clock()
        ts_us = _iso_us(row.timestamp, self.name) if row.timestamp else now
        bids = [(float(lv.price), float(lv.qty)) for lv in row.bids]
        asks = [(float(lv.price), float(lv.qty)) for lv in row.asks]
        self._learn(vs, [*row.bids, *row.asks])
        if kind == "snapshot":
            self._drop(vs)
            price, qty = self._decimals[vs]
            top_asks = sorted(asks)[:10]
            top_bids = sorted(bids, reverse=True)[:10]
            if row.checksum is not None and (
                kraken_checksum(top_asks, top_bids, price, qty) != row.checksum
            ):
                await self._bad_checksum(vs, link)
                return None
            snap = BookSnapshot(vs, self._next_id(vs), bids, asks, ts=ts_us // 1000)
            update = self._snapshot(vs, snap, ts_us, link)
            if not self._books[vs].ready:
                await self._resubscribe(vs, link)
            return update
        if kind != "update":
            return None
        book = self._books[vs]
        if not book.ready:
            book.dropped_diffs += 1
            return None  # waiting for the snapshot
        assert book.sequence is not None
        first = book.sequence + 1
        diff = BookDiff(vs, self._next_id(vs), bids, asks, first_sequence=first, ts=ts_us // 1000)
        applied, broke = self._diff(vs, diff, ts_us, link)
        if broke:
            link.stats.crossed += 1
            self._inconsistent(vs, "an update left the book crossed", link)
            await self._resubscribe(vs, link)
            return None
        if not applied:
            return None
        cut_bids, cut_asks = self._beyond_depth(vs)
        if cut_bids or cut_asks:
            last = self._next_id(vs)
            book.apply_diff(BookDiff(vs, last, cut_bids, cut_asks, ts=ts_us // 1000))
            diff = BookDiff(
                vs,
                last,
                [*bids, *cut_bids],
                [*asks, *cut_asks],
                first_sequence=first,
                ts=ts_us // 1000,
            )
        if not self._checks(vs, row.checksum):
            await self._bad_checksum(vs, link)
            return None
        return self._emit(vs, diff, ts_us, link)

    def _beyond_depth(self, vs: str) -> tuple[list[Level], list[Level]]:
        book = self._books[vs]
        cut: list[list[Level]] = []
        for side in ("bids", "asks"):
            n = book.levels(side)
            if n <= self._depth:
                cut.append([])
                continue
            bids, asks = book.depth(n)
            levels = bids if side == "bids" else asks
            cut.append([(p, 0.0) for p, _ in levels[self._depth :]])
        return cut[0], cut[1]

    async def _bad_checksum(self, vs: str, link: Link) -> None:
        link.stats.checksum_failures += 1
        self._inconsistent(vs, "the book checksum does not match the venue's", link)
        await self._resubscribe(vs, link)
