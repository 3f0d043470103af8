"""Single-market market orders filled by walking a book (every ``execution`` but "bars").

The event engine (``events``) asks ``TakerBooks.at(t)`` for the book a market order
filling in bar ``t`` meets, and walks it (``L2Book.walk``) instead of taking the bar's
open plus a slippage model:

- the fill instant is the open of bar t (``fill="next_open"``: the order was decided at
  t-1) plus ``latency_ms``, or the end of bar t (``fill="close"``, decided at t, no
  latency). The latency must stay inside the bar (the request is refused otherwise), so
  the fill still belongs to bar t;
- recorded books (``RecordedTakerBooks``) answer the book as recorded at that instant
  (``BookReplay.at``: nothing stamped after it is applied);
- synthetic books (``SyntheticTakerBooks``, flagged ``synthetic``) are built around the
  bar's open (its close for ``fill="close"``) with depth from the volume known at the
  decision (``execution.fill_volume``), as ``orderbook.synthetic`` describes.

A buy is sized on the asks (the most the budget buys walking them), a sell takes the bids.
What a book cannot fill (no depth left, an empty side) stays pending and is tried again at
the next bar, on the book then; the engine counts such attempts.
"""

from __future__ import annotations

import math
from typing import Protocol

from arbx.domain.backtest.costs import round_lot
from arbx.domain.backtest.execution import BarArrays, Execution, fill_volume
from arbx.domain.orderbook.book import L2Book, Side, Walk
from arbx.domain.orderbook.synthetic import SyntheticBook
from arbx.domain.orderbook.tape import BookReplay


class TakerBooks(Protocol):
    execution: str  # the request's execution model
    synthetic: bool

    def at(self, t: int) -> L2Book: ...

    def describe(self) -> str: ...


class RecordedTakerBooks:
    """The recorded book at each fill instant (see the module docstring)."""

    synthetic = False

    def __init__(
        self, bars: BarArrays, replay: BookReplay, execution: Execution, latency_ms: int, kind: str
    ) -> None:
        self._ts = bars.ts.tolist()
        self._bar_ms = bars.bar_ms
        self._replay = replay
        self._close = execution.fill_close
        self._latency = latency_ms
        self.kind = kind
        self.execution = kind

    def instant(self, t: int) -> int:
        if self._close:
            return int(self._ts[t]) + self._bar_ms
        return int(self._ts[t]) + self._latency

    def at(self, t: int) -> L2Book:
        return self._replay.at(self.instant(t))

    def describe(self) -> str:
        what = (
            "recorded quotes (the best bid and ask, one level deep)"
            if self.kind == "recorded_quotes"
            else "recorded order books"
        )
        return (
            f"market orders filled by walking {what} (latency {self._latency} ms;"
            f" {self._replay.resyncs} resync(s) of the recorded stream)"
        )


class SyntheticTakerBooks:
    """Books built from the bars (flagged synthetic; see the module docstring)."""

    synthetic = True
    execution = "synthetic_book"

    def __init__(self, bars: BarArrays, model: SyntheticBook, execution: Execution) -> None:
        self._model = model
        self._label = f"{bars.venue}:{bars.symbol}"
        self._ref = (bars.close if execution.fill_close else bars.open).tolist()
        self._volume = fill_volume(bars, execution, at_close=execution.fill_close).tolist()

    def at(self, t: int) -> L2Book:
        return self._model.book(self._label, float(self._ref[t]), float(self._volume[t]), t)

    def describe(self) -> str:
        return (
            "SYNTHETIC order books: market orders filled by walking books built from bars ("
            + self._model.describe()
            + "), not from recorded quotes or books"
        )


def affordable(book: L2Book, money: float) -> float:
    """The most base ``money`` (quote, fees already taken out) buys walking the asks."""
    if money <= 0.0:
        return 0.0
    _, asks = book.depth(book.levels("asks"))
    left, qty = money * (1.0 - 1e-12), 0.0  # a hair under: never spend a rounding more
    for price, size in asks:
        cost = price * size
        if cost >= left:
            return qty + left / price
        qty += size
        left -= cost
    return qty


def take(book: L2Book, side: Side, qty: float, lot: float) -> Walk | None:
    """Walk ``qty`` and round what fills down to the lot size; None when nothing fills."""
    if not (qty > 0.0 and math.isfinite(qty)):
        return None
    walk = book.walk(side, qty)
    if walk.filled <= 0.0:
        return None
    if lot > 0:
        q = round_lot(walk.filled, lot)
        if q <= 0:
            return None
        if q < walk.filled:
            walk = book.walk(side, q)
    return walk
