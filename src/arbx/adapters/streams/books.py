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

import logging
import zlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec

from arbx.adapters.streams.quotes import Clock, now_us
from arbx.adapters.streams.venues import StreamDecodeError, _decode, _iso_us, _pair
from arbx.adapters.streams.websocket import Link, WebSocketStream
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol
from arbx.domain.market.books import BookUpdate
from arbx.domain.market.trades import TradeKey
from arbx.domain.orderbook.book import BookDiff, BookSnapshot, L2Book, Level
from arbx.domain.orderbook.errors import BookNotReady, CrossedBook
from arbx.ports.book_stream import BookSource
from arbx.ports.trade_stream import StreamRejected

log = logging.getLogger(__name__)


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


def _levels(rows: Sequence[Sequence[Any]], venue: str) -> list[Level]:
    try:
        return [(float(row[0]), float(row[1])) for row in rows]
    except (ValueError, IndexError, TypeError):
        raise StreamDecodeError(f"{venue}: a book level is not [price, quantity]") from None


class _BookChannel:
    """What every book channel shares: one ``L2Book`` per symbol, time stamps that never go
    back, recorder-made ids, requested resyncs."""

    name = ""
    default_url = ""

    def __init__(
        self,
        symbols: Sequence[Symbol],
        base_url: str | None = None,
        *,
        clock: Clock = now_us,
    ) -> None:
        self._symbols = list(symbols)
        self._base = base_url or self.default_url
        self._pairs = {self.venue_symbol(s): s for s in self._symbols}
        self._keys = {vs: TradeKey(self.name, s) for vs, s in self._pairs.items()}
        self._books = {vs: L2Book(vs, on_gap="resync") for vs in self._pairs}
        self._last_ts: dict[str, int] = {}
        self._last_id: dict[str, int] = {}
        self._emitted: dict[str, int] = {}  # the last sequence delivered per symbol
        self._healing: set[str] = set()  # dropped as inconsistent: the next snapshot heals
        self._wanted: set[str] = set()  # resyncs asked for by a consumer
        self._clock = clock

    @property
    def venue(self) -> str:
        return self.name

    def venue_symbol(self, symbol: Symbol) -> str:
        raise NotImplementedError

    def url(self) -> str:
        return self._base

    async def on_connect(self, link: Link) -> None:
        # whatever came while we were away is lost: every book waits for a fresh snapshot
        for vs in self._books:
            self._drop(vs)
        self._healing.clear()
        self._wanted.clear()

    def subscribe(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def handle(self, data: str | bytes, link: Link) -> list[BookUpdate]:
        raise NotImplementedError

    # -- for the source ----------------------------------------------------------------------

    def request_resync(self, symbol: Symbol) -> None:
        self._wanted.add(self.venue_symbol(symbol))

    def current(self, symbol: Symbol, depth: int) -> tuple[list[Level], list[Level]]:
        vs = self.venue_symbol(symbol)
        if vs not in self._books:
            raise InvalidInput(f"{symbol} is not subscribed on this stream", field="symbol")
        return self._books[vs].depth(depth)

    # -- helpers -----------------------------------------------------------------------------

    def _drop(self, vs: str) -> None:
        self._books[vs] = L2Book(vs, on_gap="resync")

    def _inconsistent(self, vs: str, what: str, link: Link) -> None:
        """The book of ``vs`` is known wrong: drop it, log, and heal with the next snapshot."""
        self._drop(vs)
        self._healing.add(vs)
        link.stats.failed(f"{self.name} {vs}: {what}")
        log.warning(
            "%s book of %s is inconsistent (%s): waiting for a fresh snapshot", self.name, vs, what
        )

    def _stamp(self, vs: str, ts_us: int) -> int:
        # strictly after the previous update: time order in the store is delivery order
        last = self._last_ts.get(vs)
        ts = ts_us if last is None else max(ts_us, last + 1)
        self._last_ts[vs] = ts
        return ts

    def _next_id(self, vs: str) -> int:
        new = max(self._last_id.get(vs, 0) + 1, self._clock())
        self._last_id[vs] = new
        return new

    def _snapshot(self, vs: str, snap: BookSnapshot, ts_us: int, link: Link) -> BookUpdate | None:
        """Apply a snapshot (counting the resync it heals); None when it is unusable."""
        try:
            self._books[vs].apply_snapshot(snap)
        except CrossedBook as exc:
            self._inconsistent(vs, str(exc), link)
            link.stats.crossed += 1
            return None
        except InvalidInput as exc:
            raise StreamDecodeError(f"{self.name}: snapshot of {vs}: {exc}") from exc
        link.stats.snapshots += 1
        if vs in self._healing:
            self._healing.discard(vs)
            link.stats.resyncs += 1
            log.info("%s book of %s healed by a fresh snapshot", self.name, vs)
        if not (snap.bids or snap.asks):
            # an empty book has no rows to record: the first diff after it is delivered as a
            # snapshot of the book it builds (see _emit), never onto an older recorded book
            self._emitted.pop(vs, None)
            return None
        self._emitted[vs] = snap.sequence
        return BookUpdate(self._keys[vs], snap, self._stamp(vs, ts_us))

    def _emit(self, vs: str, diff: BookDiff, ts_us: int, link: Link) -> BookUpdate | None:
        """An applied diff as delivered: one without levels is not (nothing to record), and
        the next one then covers its ids, so the record has no false gap. After a snapshot
        that could not be recorded (an empty book) the book itself is delivered as a snapshot."""
        link.stats.book_updates += 1
        if not (diff.bids or diff.asks):
            return None
        if vs not in self._emitted:
            bids, asks = self._books[vs].depth(1 << 30)
            if not (bids or asks):
                return None
            self._emitted[vs] = diff.sequence
            snap = BookSnapshot(vs, diff.sequence, bids, asks, ts=diff.ts)
            return BookUpdate(self._keys[vs], snap, self._stamp(vs, ts_us))
        first = diff.sequence if diff.first_sequence is None else diff.first_sequence
        since = self._emitted.get(vs)
        if since is not None and since + 1 < first:
            first = since + 1
        self._emitted[vs] = diff.sequence
        if first != diff.first_sequence:
            diff = BookDiff(
                diff.instrument,
                diff.sequence,
                diff.bids,
                diff.asks,
                first_sequence=first,
                ts=diff.ts,
            )
        return BookUpdate(self._keys[vs], diff, self._stamp(vs, ts_us))

    def _diff(self, vs: str, diff: BookDiff, ts_us: int, link: Link) -> tuple[bool, bool]:
        """Apply a diff: (applied, the book broke on it)."""
        book = self._books[vs]
        was_ready = book.ready
        try:
            applied = book.apply_diff(diff)
        except InvalidInput as exc:
            raise StreamDecodeError(f"{self.name}: diff of {vs}: {exc}") from exc
        return applied, was_ready and not book.ready


# -- Binance ----------------------------------------------------------------------------------


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


class BinanceBooks(_BookChannel):
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
            _levels(row.b, self.name),
            _levels(row.a, self.name),
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
            _levels(snap.bids, self.name),
            _levels(snap.asks, self.name),
            ts=self._clock() // 1000,
        )


# -- Coinbase Exchange ------------------------------------------------------------------------


class _CoinbaseLevel2(msgspec.Struct):
    type: str
    product_id: str | None = None
    bids: list[tuple[str, str]] | None = None
    asks: list[tuple[str, str]] | None = None
    changes: list[tuple[str, str, str]] | None = None
    time: str | None = None
    message: str | None = None
    reason: str | None = None


class CoinbaseBooks(_BookChannel):
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
                _levels(msg.bids or [], self.name),
                _levels(msg.asks or [], self.name),
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
            level = _levels([(price, size)], self.name)[0]
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


# -- Kraken (WebSocket v2) --------------------------------------------------------------------


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


class KrakenBooks(_BookChannel):
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


BOOK_CHANNELS: dict[str, type[_BookChannel]] = {
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
        channel: _BookChannel
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
