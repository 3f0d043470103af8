"""An L2 order book for one instrument: price levels built from snapshots and diffs.

Sequencing rules (the contract):

- A ``BookSnapshot`` replaces the whole book and sets its sequence number. It is checked
  first (positive finite prices, positive finite quantities, no price twice on a side, not
  crossed); a bad snapshot raises ``InvalidInput`` and leaves the book as it was.
- A ``BookDiff`` carries absolute quantities per level (0 removes the level) and covers the
  update ids ``first_sequence..sequence`` (``first_sequence`` defaults to ``sequence``: one
  id per diff). It applies when it contains the next id (``first <= book + 1 <= last``);
  re-applying ids the book already has is harmless because quantities are absolute.
- A diff whose ids are all at or below the book's sequence is stale: ignored and counted
  (``stale_diffs``), as when diffs buffered while fetching a snapshot are replayed.
- A diff before any snapshot raises ``BookNotReady``; a diff that skips ids raises
  ``SequenceGap``. With ``on_gap="resync"`` both are instead counted: a gap clears the book
  and counts a resync (``resyncs``), and every diff until the next snapshot is dropped and
  counted (``dropped_diffs``). A cleared book answers no queries (``BookNotReady``).
- Level values are checked before anything changes (a bad diff raises ``InvalidInput`` and
  changes nothing). A diff that leaves the book crossed is corruption: the book is cleared
  as for a gap (``CrossedBook`` in "raise" mode, a counted resync in "resync" mode).

So a book is either exactly the venue's book at its sequence number or empty and waiting
for a snapshot, never silently wrong.

Representation: per side a dict price -> quantity and a sorted list of prices (bids and
asks both ascending; the best bid is the last bid). An update is a dict write plus, for a
new or removed level, a bisect into the sorted list: O(log n + moves) with small constants.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Sequence
from typing import Literal

import msgspec

from arbx.domain.errors import InvalidInput
from arbx.domain.orderbook.errors import BookNotReady, CrossedBook, SequenceGap

Level = tuple[float, float]  # (price, quantity)
Side = Literal["buy", "sell"]
GapPolicy = Literal["raise", "resync"]

_INF = math.inf


class BookSnapshot(msgspec.Struct, frozen=True):
    """The whole book at ``sequence``: levels (price, quantity) in any order."""

    instrument: str
    sequence: int
    bids: Sequence[Level]
    asks: Sequence[Level]
    ts: int = 0  # epoch ms, informative


class BookDiff(msgspec.Struct, frozen=True):
    """Changed levels with absolute quantities (0 removes the level), covering the update
    ids ``first_sequence..sequence`` (``first_sequence`` None: just ``sequence``)."""

    instrument: str
    sequence: int
    bids: Sequence[Level] = ()
    asks: Sequence[Level] = ()
    first_sequence: int | None = None
    ts: int = 0


class Walk(msgspec.Struct, frozen=True):
    """Taking ``requested`` from one side of the book: what fills, at what cost.

    ``notional`` = sum of price x quantity over the levels taken; ``average_price`` is
    notional / filled (NaN when nothing fills); ``worst_price`` the last level touched;
    ``shortfall`` = requested - filled (the book was not deep enough)."""

    side: Side
    requested: float
    filled: float
    notional: float
    average_price: float
    worst_price: float
    levels: int

    @property
    def shortfall(self) -> float:
        return self.requested - self.filled

    @property
    def complete(self) -> bool:
        return self.filled >= self.requested


def _check_levels(levels: Sequence[Level], what: str, *, removals: bool) -> None:
    for level in levels:
        if len(level) != 2:
            raise InvalidInput(f"{what}: a level is (price, quantity), got {level!r}", field=what)
        price, qty = level
        if not (0.0 < price < _INF):
            raise InvalidInput(
                f"{what}: price must be positive and finite, got {price!r}", field=what
            )
        ok = (0.0 <= qty < _INF) if removals else (0.0 < qty < _INF)
        if not ok:
            need = "zero (remove) or positive" if removals else "positive"
            raise InvalidInput(
                f"{what}: quantity at {price} must be {need} and finite, got {qty!r}", field=what
            )


class L2Book:
    """The aggregated book of one instrument (see the module docstring for the rules)."""

    __slots__ = (
        "_ask_px",
        "_asks",
        "_bid_px",
        "_bids",
        "dropped_diffs",
        "instrument",
        "on_gap",
        "resyncs",
        "sequence",
        "stale_diffs",
        "ts",
        "updates",
    )

    def __init__(self, instrument: str, *, on_gap: GapPolicy = "raise") -> None:
        if on_gap not in ("raise", "resync"):
            raise InvalidInput(
                f"on_gap must be 'raise' or 'resync', got {on_gap!r}", field="on_gap"
            )
        self.instrument = instrument
        self.on_gap: GapPolicy = on_gap
        self._bids: dict[float, float] = {}
        self._asks: dict[float, float] = {}
        self._bid_px: list[float] = []
        self._ask_px: list[float] = []
        self.sequence: int | None = None  # None: no snapshot yet, or cleared for a resync
        self.ts = 0
        self.resyncs = 0
        self.stale_diffs = 0
        self.dropped_diffs = 0
        self.updates = 0  # level updates applied

    # -- updates --------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.sequence is not None

    def apply_snapshot(self, snap: BookSnapshot) -> None:
        """Replace the book (checked first: a bad snapshot changes nothing)."""
        self._own(snap.instrument)
        _check_levels(snap.bids, "bids", removals=False)
        _check_levels(snap.asks, "asks", removals=False)
        bids = dict(snap.bids)
        asks = dict(snap.asks)
        if len(bids) != len(snap.bids) or len(asks) != len(snap.asks):
            raise InvalidInput("a snapshot lists a price twice on one side", field="levels")
        if bids and asks and max(bids) >= min(asks):
            raise CrossedBook(
                f"snapshot {snap.sequence} of {self.instrument} is crossed: best bid"
                f" {max(bids)} >= best ask {min(asks)}",
                field="levels",
            )
        self._bids, self._asks = bids, asks
        self._bid_px, self._ask_px = sorted(bids), sorted(asks)
        self.sequence, self.ts = snap.sequence, snap.ts
        self.updates += len(bids) + len(asks)

    def apply_diff(self, diff: BookDiff) -> bool:
        """Apply ``diff``; True when applied, False when ignored (stale, or dropped while
        awaiting a resync). Raises as the module docstring says."""
        self._own(diff.instrument)
        seq = self.sequence
        if seq is None:
            if self.on_gap == "resync":
                self.dropped_diffs += 1
                return False
            raise BookNotReady(
                f"diff {diff.sequence} for {self.instrument} arrived before a snapshot;"
                " apply a snapshot first",
                field="sequence",
            )
        last = diff.sequence
        first = last if diff.first_sequence is None else diff.first_sequence
        if first > last:
            raise InvalidInput(
                f"diff first_sequence {first} is after its sequence {last}", field="sequence"
            )
        if last <= seq:
            self.stale_diffs += 1
            return False
        if first > seq + 1:
            self._clear()
            self.resyncs += 1
            if self.on_gap == "resync":
                return False
            raise SequenceGap(
                f"diff {first}..{last} for {self.instrument} does not follow sequence {seq}"
                f" (expected {seq + 1}); the book was cleared: apply a new snapshot",
                expected=seq + 1,
                got=first,
            )
        bids, asks = diff.bids, diff.asks
        _check_levels(bids, "bids", removals=True)
        _check_levels(asks, "asks", removals=True)
        _apply(self._bids, self._bid_px, bids)
        _apply(self._asks, self._ask_px, asks)
        self.updates += len(bids) + len(asks)
        self.sequence, self.ts = last, diff.ts
        bp, ap = self._bid_px, self._ask_px
        if bp and ap and bp[-1] >= ap[0]:
            bid, ask = bp[-1], ap[0]
            self._clear()
            self.resyncs += 1
            if self.on_gap == "resync":
                return False
            raise CrossedBook(
                f"diff {last} left {self.instrument} crossed (bid {bid} >= ask {ask}); the"
                " book was cleared: apply a new snapshot",
                field="sequence",
            )
        return True

    def _clear(self) -> None:
        self._bids, self._asks, self._bid_px, self._ask_px = {}, {}, [], []
        self.sequence = None

    def _own(self, instrument: str) -> None:
        if instrument != self.instrument:
            raise InvalidInput(
                f"update for {instrument} sent to the book of {self.instrument}",
                field="instrument",
            )

    def _ready(self) -> None:
        if self.sequence is None:
            raise BookNotReady(
                f"the book of {self.instrument} has no snapshot (or awaits a resync)",
                field="sequence",
            )

    # -- queries --------------------------------------------------------------------------

    def best_bid(self) -> Level | None:
        self._ready()
        if not self._bid_px:
            return None
        p = self._bid_px[-1]
        return p, self._bids[p]

    def best_ask(self) -> Level | None:
        self._ready()
        if not self._ask_px:
            return None
        p = self._ask_px[0]
        return p, self._asks[p]

    def mid(self) -> float | None:
        bid, ask = self.best_bid(), self.best_ask()
        return None if bid is None or ask is None else (bid[0] + ask[0]) / 2.0

    def spread(self) -> float | None:
        bid, ask = self.best_bid(), self.best_ask()
        return None if bid is None or ask is None else ask[0] - bid[0]

    def microprice(self) -> float | None:
        """The size-weighted mid: (bid x ask_qty + ask x bid_qty) / (bid_qty + ask_qty),
        which leans toward the side with less quantity (the likelier next move)."""
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        return (bid[0] * ask[1] + ask[0] * bid[1]) / (bid[1] + ask[1])

    def depth(self, n: int) -> tuple[list[Level], list[Level]]:
        """The best ``n`` levels per side: (bids best first, asks best first)."""
        self._ready()
        if n < 0:
            raise InvalidInput(f"depth needs n >= 0, got {n}", field="n")
        bids = [(p, self._bids[p]) for p in reversed(self._bid_px[-n:])] if n else []
        asks = [(p, self._asks[p]) for p in self._ask_px[:n]]
        return bids, asks

    def levels(self, side: Literal["bids", "asks"]) -> int:
        self._ready()
        return len(self._bid_px if side == "bids" else self._ask_px)

    def quantity_at(self, side: Literal["bids", "asks"], price: float) -> float:
        self._ready()
        return (self._bids if side == "bids" else self._asks).get(price, 0.0)

    def walk(self, side: Side, qty: float, *, limit: float | None = None) -> Walk:
        """The cost of taking ``qty``: a buy walks the asks up, a sell the bids down, never
        past ``limit`` when given. The book is not changed."""
        self._ready()
        if not (0.0 < qty < _INF):
            raise InvalidInput(f"quantity must be positive and finite, got {qty!r}", field="qty")
        if side == "buy":
            prices: Sequence[float] = self._ask_px
            book = self._asks
        elif side == "sell":
            prices = self._bid_px[::-1]
            book = self._bids
        else:
            raise InvalidInput(f"side must be 'buy' or 'sell', got {side!r}", field="side")
        left, notional, worst, used = qty, 0.0, math.nan, 0
        for p in prices:
            if limit is not None and (p > limit if side == "buy" else p < limit):
                break
            take = min(left, book[p])
            notional += take * p
            left -= take
            worst, used = p, used + 1
            if left <= qty * 1e-12:
                left = 0.0
                break
        filled = qty - left
        avg = notional / filled if filled > 0 else math.nan
        return Walk(side, qty, filled, notional, avg, worst, used)


def _apply(book: dict[float, float], prices: list[float], levels: Sequence[Level]) -> None:
    for p, q in levels:
        if q == 0.0:
            if p in book:
                del book[p]
                del prices[bisect_left(prices, p)]
        else:
            if p not in book:
                insort(prices, p)
            book[p] = q
