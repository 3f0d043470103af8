"""Coinbase Exchange L2 books: ``level2_batch`` snapshot and ``l2update`` messages, numbered
by the recorder (see ``books`` for the rules)."""

from __future__ import annotations

from typing import Any

import msgspec

from arbx.adapters.streams.book_channel import BookChannel, parse_levels
from arbx.adapters.streams.venues import StreamDecodeError, _decode, _iso_us, _pair
from arbx.adapters.streams.websocket import Link
from arbx.domain.market import Symbol
from arbx.domain.market.books import BookUpdate
from arbx.domain.orderbook.book import BookDiff, BookSnapshot, Level
from arbx.ports.trade_stream import StreamRejected


class _CoinbaseLevel2(msgspec.Struct):
    type: str
    product_id: str | None = None
    bids: list[tuple[str, str]] | None = None
    asks: list[tuple[str, str]] | None = None
    changes: list[tuple[str, str, str]] | None = None
    time: str | None = None
    message: str | None = None
    reason: str | None = None


class CoinbaseBooks(BookChannel):
    name = "coinbase"
    default_url = "wss://ws-feed.exchange.coinbase.com"
    channel = "level2_batch"

    def venue_symbol(self, symbol: Symbol) -> str:
        return f"{symbol.base}-{symbol.quote}"

    def _subscription(self, kind: str, products: list[str]) -> dict[str, Any]:
        return {"type": kind, "product_ids": products, "channels": [self.channel]}

    def subscribe(self) -> list[dict[str, Any]]:
        return [self._subscription("subscribe", list(self._pairs))]

    async def _resubscribe(self, vs: str, link: Link) -> None:
        await link.send(self._subscription("unsubscribe", [vs]))
        await link.send(self._subscription("subscribe", [vs]))

    async def handle(self, data: str | bytes, link: Link) -> list[BookUpdate]:
        msg = _decode(data, _CoinbaseLevel2, self.name)
        if msg.type == "error":
            raise StreamRejected(
                f"coinbase refused the subscription: {msg.message or ''} {msg.reason or ''}".strip()
            )
        if msg.type not in ("snapshot", "l2update") or msg.product_id is None:
            return []  # subscriptions, heartbeat
        _pair(self._pairs, msg.product_id, self.name)
        vs = msg.product_id
        if vs in self._wanted:
            self._wanted.discard(vs)
            self._drop(vs)
            self._healing.add(vs)
            await self._resubscribe(vs, link)
            return []
        now = self._clock()
        if msg.type == "snapshot":
            snap = BookSnapshot(
                vs,
                self._next_id(vs),
                parse_levels(msg.bids or [], self.name),
                parse_levels(msg.asks or [], self.name),
                ts=now // 1000,
            )
            update = self._snapshot(vs, snap, now, link)
            if not self._books[vs].ready:
                await self._resubscribe(vs, link)
            return [] if update is None else [update]
        book = self._books[vs]
        if not book.ready:
            book.dropped_diffs += 1
            return []  # waiting for the snapshot
        bids: list[Level] = []
        asks: list[Level] = []
        for side, price, size in msg.changes or []:
            level = parse_levels([(price, size)], self.name)[0]
            if side == "buy":
                bids.append(level)
            elif side == "sell":
                asks.append(level)
            else:
                raise StreamDecodeError(f"coinbase: l2update side {side!r} is not buy or sell")
        ts_us = _iso_us(msg.time, self.name) if msg.time else now
        assert book.sequence is not None
        first = book.sequence + 1
        diff = BookDiff(vs, self._next_id(vs), bids, asks, first_sequence=first, ts=ts_us // 1000)
        applied, broke = self._diff(vs, diff, ts_us, link)
        if broke:
            link.stats.crossed += 1
            self._inconsistent(vs, "an update left the book crossed", link)
            await self._resubscribe(vs, link)
            return []
        if not applied:
            return []
        update = self._emit(vs, diff, ts_us, link)
        return [] if update is None else [update]
