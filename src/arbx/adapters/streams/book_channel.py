"""What every L2 book channel shares (``books`` tells the rules): one ``L2Book`` per symbol,
update times that never go back, recorder-made update ids, requested resyncs, and the
delivery of only what the book accepted."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from arbx.adapters.streams.quotes import Clock, now_us
from arbx.adapters.streams.venues import StreamDecodeError
from arbx.adapters.streams.websocket import Link
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol
from arbx.domain.market.books import BookUpdate
from arbx.domain.market.trades import TradeKey
from arbx.domain.orderbook.book import BookDiff, BookSnapshot, L2Book, Level
from arbx.domain.orderbook.errors import CrossedBook

log = logging.getLogger("arbx.adapters.streams.books")


def parse_levels(rows: Sequence[Sequence[Any]], venue: str) -> list[Level]:
    try:
        return [(float(row[0]), float(row[1])) for row in rows]
    except (ValueError, IndexError, TypeError):
        raise StreamDecodeError(f"{venue}: a book level is not [price, quantity]") from None


class BookChannel:
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
