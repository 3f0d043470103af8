"""A synthetic L2 book built from bars, for execution where no recorded book exists.

The model (every run that uses it is flagged ``synthetic`` in its result):

- The book's mid is a reference price from the bars (the bar open a fill happens at).
- The best bid and ask sit ``spread_bps / 2`` below and above the mid; ``levels`` levels
  per side follow, ``level_step_bps`` apart.
- Each level holds ``depth_share`` x the volume per bar known at the decision (the trailing
  mean of ``volume_window`` bars up to the decision bar, never the fill bar's own volume),
  growing by ``depth_growth`` per level away from the touch. With no volume known the book
  is empty and nothing fills.
- ``latency_ms`` delays a fill: the book an order meets is the one at the fill instant plus
  the latency, whose mid is the open of the bar containing that instant (the last price
  known then; a bar's close is known only at its end).

A walk of the book then gives each leg's average price, depth used and shortfall.
"""

from __future__ import annotations

import math

import msgspec

from arbx.domain.errors import InvalidInput
from arbx.domain.orderbook.book import BookSnapshot, L2Book

BPS = 1e-4


class SyntheticBook(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Spread and depth of a book built from bars (see the module docstring)."""

    spread_bps: float = 2.0
    levels: int = 10
    level_step_bps: float = 1.0
    depth_share: float = 0.05
    depth_growth: float = 1.0
    latency_ms: int = 0

    def __post_init__(self) -> None:
        checks = (
            ("spread_bps", 0.0 <= self.spread_bps < 10_000.0, "in [0, 10000)"),
            ("levels", 1 <= self.levels <= 1_000, "between 1 and 1000"),
            ("level_step_bps", 0.0 < self.level_step_bps < 10_000.0, "in (0, 10000)"),
            ("depth_share", 0.0 < self.depth_share < math.inf, "positive"),
            ("depth_growth", 0.0 < self.depth_growth <= 100.0, "in (0, 100]"),
            ("latency_ms", 0 <= self.latency_ms <= 86_400_000, "between 0 and 86400000 (a day)"),
        )
        for name, ok, need in checks:
            if not ok:
                raise InvalidInput(
                    f"book.{name} must be {need}, got {getattr(self, name)!r}", field=f"book.{name}"
                )
        outermost = self.spread_bps / 2.0 + (self.levels - 1) * self.level_step_bps
        if outermost >= 10_000.0:
            raise InvalidInput(
                f"book levels reach {outermost:.0f} bps from the mid: the bid side would go"
                " below zero; use fewer levels or a smaller level_step_bps",
                field="book.levels",
            )

    def level_quantities(self, known_volume: float) -> list[float]:
        base = self.depth_share * known_volume if known_volume > 0 else 0.0
        return [base * self.depth_growth**i for i in range(self.levels)]

    def book(self, instrument: str, mid: float, known_volume: float, sequence: int = 0) -> L2Book:
        """The synthetic book around ``mid`` (an empty one without known volume)."""
        if not (0.0 < mid < math.inf):
            raise InvalidInput(f"a synthetic book needs a positive mid, got {mid!r}", field="mid")
        qty = self.level_quantities(known_volume)
        half, step = self.spread_bps / 2.0, self.level_step_bps
        bids = [(mid * (1.0 - (half + i * step) * BPS), q) for i, q in enumerate(qty) if q > 0]
        asks = [(mid * (1.0 + (half + i * step) * BPS), q) for i, q in enumerate(qty) if q > 0]
        if bids and bids[0][0] >= asks[0][0]:  # a (near) zero spread: keep the touch apart
            bids[0] = (math.nextafter(asks[0][0], 0.0), bids[0][1])
        book = L2Book(instrument)
        book.apply_snapshot(BookSnapshot(instrument, sequence, bids, asks))
        return book

    def describe(self) -> str:
        return (
            f"spread {self.spread_bps:g} bps, {self.levels} levels {self.level_step_bps:g} bps"
            f" apart, each {self.depth_share:g} x the known volume per bar"
            + (f" (x{self.depth_growth:g} per level)" if self.depth_growth != 1.0 else "")
            + f", latency {self.latency_ms} ms"
        )
