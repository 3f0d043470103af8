"""Binance spot L2 books: ``<pair>@depth@100ms`` diffs on the REST snapshot, sequenced by
update ids (see ``books`` for the rules)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp
import msgspec

from arbx.adapters.streams.book_channel import BookChannel, parse_levels
from arbx.adapters.streams.quotes import Clock, now_us
from arbx.adapters.streams.venues import _decode, _pair
from arbx.adapters.streams.websocket import Link
from arbx.domain.market import Symbol
from arbx.domain.market.books import BookUpdate
from arbx.domain.orderbook.book import BookDiff, BookSnapshot
from arbx.ports.trade_stream import StreamRejected


class _BinanceCombined(msgspec.Struct):
    stream: str | None = None
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b""))
    code: int | None = None
    msg: str | None = None


class _BinanceDepthUpdate(msgspec.Struct):
    e: str
    E: int
    s: str
    U: int
    u: int
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]


class _BinanceDepthSnapshot(msgspec.Struct):
    lastUpdateId: int
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]


class _BinanceError(msgspec.Struct):
    code: int
    msg: str


class BinanceBooks(BookChannel):
    name = "binance"
    default_url = "wss://stream.binance.com:9443"
    default_rest_url = "https://api.binance.com"
    _SNAPSHOT_TRIES = 3

    def __init__(
        self,
        symbols: Sequence[Symbol],
        base_url: str | None = None,
        *,
        rest_url: str | None = None,
        snapshot_limit: int = 1000,
        clock: Clock = now_us,
    ) -> None:
        super().__init__(symbols, base_url, clock=clock)
        self._rest = (rest_url or self.default_rest_url).rstrip("/")
        self._limit = snapshot_limit

    def venue_symbol(self, symbol: Symbol) -> str:
        return f"{symbol.base}{symbol.quote}"

    def url(self) -> str:
        streams = "/".join(f"{vs.lower()}@depth@100ms" for vs in self._pairs)
        return f"{self._base.rstrip('/')}/stream?streams={streams}"

    def subscribe(self) -> list[dict[str, Any]]:
        return []  # the streams are named in the URL

    async def handle(self, data: str | bytes, link: Link) -> list[BookUpdate]:
        outer = _decode(data, _BinanceCombined, self.name)
        if outer.code is not None:
            raise StreamRejected(f"binance refused the stream: {outer.msg}")
        if not len(outer.data) or not (outer.stream or "").endswith("@depth@100ms"):
            return []
        row = _decode(outer.data, _BinanceDepthUpdate, self.name)
        if row.e != "depthUpdate":
            return []
        _pair(self._pairs, row.s, self.name)
        vs = row.s
        if vs in self._wanted:
            self._wanted.discard(vs)
            self._drop(vs)
            self._healing.add(vs)
        diff = BookDiff(
            vs,
            row.u,
            parse_levels(row.b, self.name),
            parse_levels(row.a, self.name),
            first_sequence=row.U,
            ts=row.E,
        )
        ts_us = row.E * 1000
        out: list[BookUpdate] = []
        for _ in range(self._SNAPSHOT_TRIES):
            fresh = False
            if not self._books[vs].ready:
                snap = await self._fetch_snapshot(vs, link)
                update = self._snapshot(vs, snap, max(ts_us, self._clock()), link)
                if not self._books[vs].ready:
                    continue  # crossed: fetch again
                if update is not None:
                    out.append(update)
                fresh = True
            applied, broke = self._diff(vs, diff, ts_us, link)
            if applied:
                if (update := self._emit(vs, diff, ts_us, link)) is not None:
                    out.append(update)
                return out
            if not broke:
                return out  # stale (u <= lastUpdateId): already in the snapshot
            if fresh:
                # the snapshot is older than the first diff we hold: not a gap, fetch again
                self._healing.add(vs)
                continue
            link.stats.gaps += 1
            self._inconsistent(
                vs, f"update ids {row.U}..{row.u} do not follow on (a sequence gap)", link
            )
        raise ConnectionError(
            f"binance: no depth snapshot of {vs} lines up with its diffs after"
            f" {self._SNAPSHOT_TRIES} tries"
        )

    async def _fetch_snapshot(self, vs: str, link: Link) -> BookSnapshot:
        url = f"{self._rest}/api/v3/depth"
        try:
            async with link.session.get(
                url, params={"symbol": vs, "limit": str(self._limit)}
            ) as response:
                body = await response.read()
                status = response.status
        except aiohttp.ClientError as exc:
            raise ConnectionError(f"binance depth snapshot of {vs}: {exc}") from exc
        if status == 400:
            error = _decode(body, _BinanceError, self.name)
            raise StreamRejected(f"binance refused the depth snapshot of {vs}: {error.msg}")
        if status != 200:
            raise ConnectionError(f"binance depth snapshot of {vs}: HTTP {status}")
        snap = _decode(body, _BinanceDepthSnapshot, self.name)
        return BookSnapshot(
            vs,
            snap.lastUpdateId,
            parse_levels(snap.bids, self.name),
            parse_levels(snap.asks, self.name),
            ts=self._clock() // 1000,
        )
