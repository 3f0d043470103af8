"""Queue position of our passive orders in a recorded book we do not own.

A recorded L2 stream shows how much rests at each price, not where an order of ours would
stand, so a maker strategy must not be credited with fills the queue ahead of it would
have taken. The model (conservative, as in most L2 backtesters):

- An order placed at a price joins the back of that level: the quantity ahead of it is
  the level's displayed quantity plus what is left of our earlier orders there. A passive
  order may not cross the book (a buy at or above the best ask is refused: it would take
  liquidity, use the matching engine or a taker fill for that).
- A recorded trade at our price eats the queue ahead of us first; only what trades beyond
  it fills us (oldest of our orders there first). A trade through our price (a sell
  printed below our bid, a buy above our ask) fills what is left of us at our price: the
  market could not have traded there without taking us first.
- Cancels are assumed to come from behind us: when a level shrinks by a diff, the
  quantity ahead of us drops only to what is left on the level (ahead never exceeds it).
  Growth of the level is queued behind us and changes nothing.
- Recorded trades do not change by our presence (no market impact of our orders).

Fills are returned as ``QueueFill`` values; ``ahead`` and ``filled`` can be read at any
time for an order (``QueueModel.order``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

from arbx.domain.errors import InvalidInput
from arbx.domain.orderbook.book import L2Book
from arbx.domain.orderbook.errors import DuplicateOrder, InvalidOrder, UnknownOrder

Side = Literal["buy", "sell"]


class QueueFill(msgspec.Struct, frozen=True):
    order_id: int
    price: float
    qty: float
    through: bool  # filled because the market traded through our price


@dataclass
class PassiveOrder:
    order_id: int
    side: Side
    price: float
    qty: float
    ahead: float
    filled: float = 0.0

    @property
    def remaining(self) -> float:
        return self.qty - self.filled


class QueueModel:
    """Our passive orders against ``book`` (kept current by the caller) and the recorded
    trades the caller reports (``on_trade``); see the module docstring."""

    def __init__(self, book: L2Book) -> None:
        self.book = book
        self._orders: dict[int, PassiveOrder] = {}  # insertion order = placement order

    def order(self, order_id: int) -> PassiveOrder:
        found = self._orders.get(order_id)
        if found is None:
            raise UnknownOrder(f"no passive order {order_id}")
        return found

    def open_orders(self) -> list[PassiveOrder]:
        return [o for o in self._orders.values() if o.remaining > 0]

    def place(self, order_id: int, side: Side, price: float, qty: float) -> PassiveOrder:
        if order_id in self._orders:
            raise DuplicateOrder(f"passive order {order_id} already exists")
        if side not in ("buy", "sell"):
            raise InvalidOrder(f"side must be buy or sell, got {side!r}", field="side")
        if not (qty > 0 and price > 0) or qty == float("inf") or price == float("inf"):
            raise InvalidOrder("a passive order needs a positive price and quantity", field="qty")
        book = self.book
        opposite = book.best_ask() if side == "buy" else book.best_bid()
        if opposite is not None and (
            price >= opposite[0] if side == "buy" else price <= opposite[0]
        ):
            raise InvalidOrder(
                f"a passive {side} at {price} crosses the book (best"
                f" {'ask' if side == 'buy' else 'bid'} {opposite[0]}); it would take liquidity",
                field="price",
            )
        ahead = book.quantity_at("bids" if side == "buy" else "asks", price)
        ahead += sum(o.remaining for o in self._same_level(side, price))
        order = PassiveOrder(order_id, side, price, qty, ahead)
        self._orders[order_id] = order
        return order

    def cancel(self, order_id: int) -> PassiveOrder:
        order = self.order(order_id)
        del self._orders[order_id]
        return order

    def _same_level(self, side: Side, price: float) -> list[PassiveOrder]:
        return [
            o
            for o in self._orders.values()
            if o.side == side and o.price == price and o.remaining > 0
        ]

    def on_book(self) -> None:
        """Call after applying a diff: shrink the queue ahead of each order to what the
        level (plus our earlier orders there) still holds."""
        seen: dict[tuple[Side, float], float] = {}
        for o in self._orders.values():
            if o.remaining <= 0:
                continue
            key = (o.side, o.price)
            ours = seen.get(key, 0.0)
            level = self.book.quantity_at("bids" if o.side == "buy" else "asks", o.price)
            o.ahead = min(o.ahead, level + ours)
            seen[key] = ours + o.remaining

    def on_trade(self, price: float, qty: float, aggressor: Side) -> list[QueueFill]:
        """A recorded trade of ``qty`` at ``price`` whose taker was ``aggressor``: a sell
        aggressor hits bids (our buys), a buy aggressor lifts asks (our sells)."""
        if not (qty > 0 and price > 0):
            raise InvalidInput("a trade needs a positive price and quantity", field="trade")
        if aggressor not in ("buy", "sell"):
            raise InvalidInput(f"aggressor must be buy or sell, got {aggressor!r}", field="side")
        ours: Side = "buy" if aggressor == "sell" else "sell"
        fills: list[QueueFill] = []
        for o in list(self._orders.values()):
            if o.side != ours or o.remaining <= 0:
                continue
            through = price < o.price if ours == "buy" else price > o.price
            if through:
                take = o.remaining
            elif price == o.price:
                take = min(o.remaining, max(qty - o.ahead, 0.0))
                o.ahead = max(o.ahead - qty, 0.0)
            else:
                continue
            if take > 0:
                o.filled += take
                fills.append(QueueFill(o.order_id, o.price, take, through))
        return fills
