"""A price-time-priority matching engine (an L3 book per instrument).

Rules (the contract):

- Instruments are registered with a tick size and a lot size. An order for another
  instrument raises ``UnknownInstrument``; a quantity that is not positive and finite or
  not a whole number of lots, or a limit price that is not positive or not on the tick,
  raises ``InvalidOrder``; a live order id used again raises ``DuplicateOrder``. Nothing
  changes when an order is refused. Internally prices are integer ticks and quantities
  integer lots, so matching arithmetic is exact; events carry both.
- Priority: better price first, then earlier arrival at that price. An incoming order
  trades with the best opposite level while it crosses (a buy at or above the ask, a sell
  at or below the bid), each fill at the resting order's price, oldest resting order
  first.
- ``limit``/``gtc`` rests what does not trade; ``ioc`` cancels it; ``fok`` trades all at
  once or nothing (cancelled with ``fok_unfillable``); ``market`` takes whatever the
  opposite side holds and cancels the rest (``no_liquidity``). ``post_only`` limit orders
  that would trade on arrival are cancelled (``post_only_would_cross``) instead.
- Self-trade prevention: when the incoming order would trade with a resting order of the
  same non-empty ``owner``, ``stp`` decides: ``cancel_taker`` (default: the incoming rest
  is cancelled), ``cancel_maker`` (the resting order is cancelled and matching goes on) or
  ``cancel_both``. Owners are never filled against themselves.
- ``cancel`` removes a resting order; ``replace`` changes its price and/or quantity: a
  quantity reduction at the same price keeps its place in the queue, anything else is a
  cancel and a new arrival at the back (which may trade if it crosses).
- Every change is an event, in order: ``Accepted``, ``Fill`` (one per maker), ``Cancelled``
  (why and how much), ``Replaced``, ``Rested`` and ``LevelChanged`` (a level's new total,
  0 when it is gone). The same commands always give the same events (no clock, no
  randomness): replaying a stream reproduces its fills exactly.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Literal

import msgspec

from arbx.domain.orderbook.errors import (
    DuplicateOrder,
    InvalidOrder,
    UnknownInstrument,
    UnknownOrder,
)

Side = Literal["buy", "sell"]
OrderKind = Literal["limit", "market"]
TimeInForce = Literal["gtc", "ioc", "fok"]
SelfTrade = Literal["cancel_taker", "cancel_maker", "cancel_both"]
_SIDES = frozenset(("buy", "sell"))
_TIFS = frozenset(("gtc", "ioc", "fok"))
_STPS = frozenset(("cancel_taker", "cancel_maker", "cancel_both"))
_INF = math.inf


class Instrument(msgspec.Struct, frozen=True):
    """A tradable book: prices are multiples of ``tick_size``, quantities of ``lot_size``."""

    id: str
    tick_size: float
    lot_size: float

    def __post_init__(self) -> None:
        for name in ("tick_size", "lot_size"):
            value = getattr(self, name)
            if not (0.0 < value < math.inf):
                raise InvalidOrder(f"{self.id}: {name} must be positive, got {value!r}", field=name)


class Submit(msgspec.Struct, frozen=True, tag="submit"):
    order_id: int
    instrument: str
    side: Side
    qty: float
    price: float | None = None  # None: a market order
    kind: OrderKind = "limit"
    tif: TimeInForce = "gtc"
    post_only: bool = False
    owner: str = ""
    stp: SelfTrade = "cancel_taker"


class Cancel(msgspec.Struct, frozen=True, tag="cancel"):
    order_id: int
    instrument: str


class Replace(msgspec.Struct, frozen=True, tag="replace"):
    order_id: int
    instrument: str
    price: float | None = None  # None: keep
    qty: float | None = None  # the new remaining quantity; None: keep


Command = Submit | Cancel | Replace


class Accepted(msgspec.Struct, frozen=True, gc=False, tag="accepted"):
    order_id: int
    instrument: str
    side: Side
    qty: float
    price: float | None


class Fill(msgspec.Struct, frozen=True, gc=False, tag="fill"):
    """One trade: ``taker`` (incoming) against ``maker`` (resting) at the maker's price."""

    instrument: str
    taker: int
    maker: int
    taker_side: Side
    price: float
    qty: float
    price_ticks: int
    qty_lots: int
    maker_left: float  # what the maker still has resting after this fill


class Cancelled(msgspec.Struct, frozen=True, gc=False, tag="cancelled"):
    order_id: int
    instrument: str
    qty: float  # what was left and is no longer live
    reason: str  # user | ioc_remainder | fok_unfillable | no_liquidity | post_only_would_cross | self_trade | replaced


class Replaced(msgspec.Struct, frozen=True, gc=False, tag="replaced"):
    order_id: int
    instrument: str
    price: float
    qty: float
    kept_priority: bool


class Rested(msgspec.Struct, frozen=True, gc=False, tag="rested"):
    order_id: int
    instrument: str
    side: Side
    price: float
    qty: float


class LevelChanged(msgspec.Struct, frozen=True, gc=False, tag="level"):
    instrument: str
    side: Side
    price: float
    qty: float  # the level's new total; 0: gone


Event = Accepted | Fill | Cancelled | Replaced | Rested | LevelChanged


class _Resting:
    __slots__ = ("lots", "order_id", "owner", "post_only", "side", "stp", "ticks")

    def __init__(
        self,
        order_id: int,
        side: Side,
        ticks: int,
        lots: int,
        owner: str,
        post_only: bool,
        stp: SelfTrade,
    ) -> None:
        self.order_id = order_id
        self.side: Side = side
        self.ticks = ticks
        self.lots = lots
        self.owner = owner
        self.post_only = post_only
        self.stp: SelfTrade = stp


class _BookSide:
    """One side: key -> FIFO queue and total lots; keys sorted ascending, best first (a
    bid's key is minus its ticks). Cancelled orders stay in their queue with 0 lots until
    matching reaches them (lazy deletion keeps cancel O(1) plus level bookkeeping)."""

    __slots__ = ("keys", "queues", "sign", "totals")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # +1 asks, -1 bids
        self.queues: dict[int, deque[_Resting]] = {}
        self.totals: dict[int, int] = {}
        self.keys: list[int] = []

    def add(self, order: _Resting) -> int:
        key = self.sign * order.ticks
        queue = self.queues.get(key)
        if queue is None:
            queue = self.queues[key] = deque()
            self.totals[key] = 0
            insort(self.keys, key)
        queue.append(order)
        total = self.totals[key] + order.lots
        self.totals[key] = total
        return total

    def reduce(self, key: int, lots: int) -> int:
        total = self.totals[key] - lots
        if total:
            self.totals[key] = total
        else:
            self.drop(key)
        return total

    def drop(self, key: int) -> None:
        del self.queues[key], self.totals[key]
        del self.keys[bisect_left(self.keys, key)]


class _Book:
    __slots__ = ("asks", "bids", "instrument", "ld", "lm", "lot", "orders", "td", "tick", "tm")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.tick = instrument.tick_size
        self.lot = instrument.lot_size
        # n units as a float: n * m / d, with d = 1/unit when that is a whole number, so
        # 1400 lots of 0.001 is 1.4 (correctly rounded), not 1400 * 0.001 = 1.4000000000000001
        self.tm, self.td = _scale(self.tick)
        self.lm, self.ld = _scale(self.lot)
        self.bids = _BookSide(-1)
        self.asks = _BookSide(1)
        self.orders: dict[int, _Resting] = {}


def _scale(unit: float) -> tuple[float, float]:
    inv = 1.0 / unit
    return (1.0, float(round(inv))) if abs(inv - round(inv)) < 1e-9 * inv else (unit, 1.0)


def _units(value: float, unit: float, what: str, order_id: int) -> int:
    n = round(value / unit)
    err = n * unit - value
    tol = 1e-9 * (value if value > unit else unit)
    if err > tol or -err > tol:
        raise InvalidOrder(
            f"order {order_id}: {what} {value!r} is not a multiple of {unit!r}", field=what
        )
    return n


class MatchingEngine:
    """Books for ``instruments``; ``handle`` applies one command and returns its events."""

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self._books: dict[str, _Book] = {}
        for inst in instruments:
            if inst.id in self._books:
                raise DuplicateOrder(f"instrument {inst.id} is listed twice")
            self._books[inst.id] = _Book(inst)

    # -- commands -------------------------------------------------------------------------

    def handle(self, command: Command) -> list[Event]:
        if type(command) is Submit:
            return self.submit(command)
        if isinstance(command, Cancel):
            return self.cancel(command.instrument, command.order_id)
        return self.replace(command.instrument, command.order_id, command.price, command.qty)

    def replay(self, commands: Iterable[Command]) -> list[Event]:
        out: list[Event] = []
        for command in commands:
            out.extend(self.handle(command))
        return out

    def _book(self, instrument: str) -> _Book:
        book = self._books.get(instrument)
        if book is None:
            known = ", ".join(sorted(self._books)) or "none"
            raise UnknownInstrument(f"unknown instrument {instrument!r}; known: {known}")
        return book

    def submit(self, order: Submit) -> list[Event]:
        book = self._book(order.instrument)
        oid = order.order_id
        if oid in book.orders:
            raise DuplicateOrder(f"order {oid} is already live on {order.instrument}")
        qty = order.qty
        if not (0.0 < qty < _INF):
            raise InvalidOrder(f"order {oid}: quantity must be positive, got {qty!r}", field="qty")
        lots = _units(qty, book.lot, "qty", oid)
        if lots <= 0:
            raise InvalidOrder(f"order {oid}: quantity {qty!r} is below one lot", field="qty")
        if order.side not in _SIDES:
            raise InvalidOrder(f"order {oid}: side must be buy or sell", field="side")
        if order.tif not in _TIFS or order.stp not in _STPS:
            raise InvalidOrder(
                f"order {oid}: tif must be one of {sorted(_TIFS)} and stp one of {sorted(_STPS)}",
                field="tif" if order.tif not in _TIFS else "stp",
            )
        if order.kind == "market":
            if order.price is not None:
                raise InvalidOrder(f"order {oid}: a market order has no price", field="price")
            if order.post_only:
                raise InvalidOrder(
                    f"order {oid}: a market order cannot be post-only", field="post_only"
                )
            ticks = None
        elif order.kind == "limit":
            price = order.price
            if price is None or not (0.0 < price < _INF):
                raise InvalidOrder(
                    f"order {oid}: a limit order needs a positive price, got {price!r}",
                    field="price",
                )
            ticks = _units(price, book.tick, "price", oid)
            if order.post_only and order.tif != "gtc":
                raise InvalidOrder(
                    f"order {oid}: post-only orders rest, so their tif must be gtc", field="tif"
                )
        else:
            raise InvalidOrder(f"order {oid}: kind must be limit or market", field="kind")
        events: list[Event] = [Accepted(oid, order.instrument, order.side, qty, order.price)]
        self._execute(book, order, oid, order.side, ticks, lots, events)
        return events

    def cancel(self, instrument: str, order_id: int) -> list[Event]:
        book = self._book(instrument)
        resting = book.orders.get(order_id)
        if resting is None:
            raise UnknownOrder(f"no live order {order_id} on {instrument}")
        events: list[Event] = []
        self._remove(book, resting, "user", events)
        return events

    def replace(
        self, instrument: str, order_id: int, price: float | None, qty: float | None
    ) -> list[Event]:
        book = self._book(instrument)
        resting = book.orders.get(order_id)
        if resting is None:
            raise UnknownOrder(f"no live order {order_id} on {instrument}")
        ticks = resting.ticks
        if price is not None:
            if not (0.0 < price < math.inf):
                raise InvalidOrder(f"order {order_id}: price must be positive", field="price")
            ticks = _units(price, book.tick, "price", order_id)
        lots = resting.lots
        if qty is not None:
            if not (0.0 < qty < math.inf):
                raise InvalidOrder(f"order {order_id}: quantity must be positive", field="qty")
            lots = _units(qty, book.lot, "qty", order_id)
            if lots <= 0:
                raise InvalidOrder(f"order {order_id}: quantity is below one lot", field="qty")
        events: list[Event] = []
        name = book.instrument.id
        if ticks == resting.ticks and lots <= resting.lots:
            side = book.bids if resting.side == "buy" else book.asks
            key = side.sign * ticks
            cut = resting.lots - lots
            resting.lots = lots
            events.append(
                Replaced(order_id, name, ticks * book.tm / book.td, lots * book.lm / book.ld, True)
            )
            if cut:
                total = side.reduce(key, cut)
                events.append(
                    LevelChanged(
                        name, resting.side, ticks * book.tm / book.td, total * book.lm / book.ld
                    )
                )
            return events
        self._remove(book, resting, "replaced", events)
        events.append(
            Replaced(order_id, name, ticks * book.tm / book.td, lots * book.lm / book.ld, False)
        )
        again = Submit(
            order_id,
            name,
            resting.side,
            lots * book.lm / book.ld,
            ticks * book.tm / book.td,
            owner=resting.owner,
            post_only=resting.post_only,
            stp=resting.stp,
        )
        self._execute(book, again, order_id, resting.side, ticks, lots, events)
        return events

    # -- matching -------------------------------------------------------------------------

    def _execute(
        self,
        book: _Book,
        order: Submit,
        oid: int,
        side: Side,
        ticks: int | None,
        lots: int,
        events: list[Event],
    ) -> None:
        name = book.instrument.id
        tm, td, lm, ld = book.tm, book.td, book.lm, book.ld
        opposite = book.asks if side == "buy" else book.bids
        sign = opposite.sign
        # a key crosses when key <= limit_key (asks: ticks <= limit; bids: -ticks <= -limit)
        limit_key = None if ticks is None else sign * ticks
        keys = opposite.keys
        crosses = bool(keys) and (limit_key is None or keys[0] <= limit_key)
        if order.post_only and crosses:
            events.append(Cancelled(oid, name, lots * lm / ld, "post_only_would_cross"))
            return
        if order.tif == "fok" and not self._fillable(opposite, limit_key, lots, order):
            events.append(Cancelled(oid, name, lots * lm / ld, "fok_unfillable"))
            return
        owner, stp = order.owner, order.stp
        maker_side: Side = "sell" if side == "buy" else "buy"
        taker_stopped = False
        while lots and keys and (limit_key is None or keys[0] <= limit_key):
            key = keys[0]
            queue = opposite.queues[key]
            price = sign * key
            removed = 0  # lots leaving the level: traded or cancelled by self-trade prevention
            while lots and queue:
                maker = queue[0]
                if not maker.lots:  # cancelled earlier (lazy deletion)
                    queue.popleft()
                    continue
                if owner and maker.owner == owner:
                    if stp != "cancel_taker":  # cancel_maker or cancel_both
                        queue.popleft()
                        del book.orders[maker.order_id]
                        events.append(
                            Cancelled(maker.order_id, name, maker.lots * lm / ld, "self_trade")
                        )
                        removed += maker.lots
                        maker.lots = 0
                    if stp != "cancel_maker":
                        taker_stopped = True
                        break
                    continue
                take = lots if lots < maker.lots else maker.lots
                maker.lots -= take
                lots -= take
                removed += take
                events.append(
                    Fill(
                        name,
                        oid,
                        maker.order_id,
                        side,
                        price * tm / td,
                        take * lm / ld,
                        price,
                        take,
                        maker.lots * lm / ld,
                    )
                )
                if not maker.lots:
                    queue.popleft()
                    del book.orders[maker.order_id]
            if removed:
                total = opposite.reduce(key, removed)
                events.append(LevelChanged(name, maker_side, price * tm / td, total * lm / ld))
            if taker_stopped:
                break
        if not lots:
            return
        if taker_stopped:
            events.append(Cancelled(oid, name, lots * lm / ld, "self_trade"))
        elif ticks is None:
            events.append(Cancelled(oid, name, lots * lm / ld, "no_liquidity"))
        elif order.tif != "gtc":
            events.append(Cancelled(oid, name, lots * lm / ld, "ioc_remainder"))
        else:
            resting = _Resting(oid, side, ticks, lots, owner, order.post_only, stp)
            book.orders[oid] = resting
            own = book.bids if side == "buy" else book.asks
            total = own.add(resting)
            events.append(Rested(oid, name, side, ticks * tm / td, lots * lm / ld))
            events.append(LevelChanged(name, side, ticks * tm / td, total * lm / ld))

    @staticmethod
    def _fillable(opposite: _BookSide, limit_key: int | None, lots: int, order: Submit) -> bool:
        """Whether ``lots`` can trade now within the limit, as matching would go: resting
        orders of the same owner never fill it, and under ``cancel_taker``/``cancel_both``
        matching stops at the first of them."""
        need, owner = lots, order.owner
        for key in opposite.keys:
            if limit_key is not None and key > limit_key:
                return False
            if not owner:
                need -= opposite.totals[key]
            else:
                for o in opposite.queues[key]:
                    if o.owner == owner and o.lots:
                        if order.stp != "cancel_maker":
                            return False
                        continue
                    need -= o.lots
                    if need <= 0:
                        return True
            if need <= 0:
                return True
        return False

    def _remove(self, book: _Book, resting: _Resting, reason: str, events: list[Event]) -> None:
        side = book.bids if resting.side == "buy" else book.asks
        key = side.sign * resting.ticks
        lots = resting.lots
        resting.lots = 0
        del book.orders[resting.order_id]
        name = book.instrument.id
        events.append(Cancelled(resting.order_id, name, lots * book.lm / book.ld, reason))
        total = side.reduce(key, lots)
        events.append(
            LevelChanged(
                name, resting.side, resting.ticks * book.tm / book.td, total * book.lm / book.ld
            )
        )

    # -- views ----------------------------------------------------------------------------

    def l2(self, instrument: str, n: int | None = None) -> tuple[list[tuple[float, float]], ...]:
        """(bids best first, asks best first) as (price, total quantity) levels."""
        book = self._book(instrument)
        out = []
        for side in (book.bids, book.asks):
            keys = side.keys if n is None else side.keys[:n]
            out.append(
                [
                    (side.sign * k * book.tm / book.td, side.totals[k] * book.lm / book.ld)
                    for k in keys
                ]
            )
        return out[0], out[1]

    def l3(self, instrument: str) -> dict[Side, list[tuple[float, list[tuple[int, float]]]]]:
        """Every resting order by level, best level first, in queue (time) order:
        {"buy": [(price, [(order_id, qty), ...]), ...], "sell": [...]}."""
        book = self._book(instrument)
        view: dict[Side, list[tuple[float, list[tuple[int, float]]]]] = {}
        for name, side in (("buy", book.bids), ("sell", book.asks)):
            view[name] = [  # type: ignore[index]
                (
                    side.sign * k * book.tm / book.td,
                    [(o.order_id, o.lots * book.lm / book.ld) for o in side.queues[k] if o.lots],
                )
                for k in side.keys
            ]
        return view

    def open_orders(self, instrument: str) -> Sequence[int]:
        return list(self._book(instrument).orders)

    def best(self, instrument: str) -> tuple[float | None, float | None]:
        """(best bid, best ask) prices."""
        book = self._book(instrument)
        bid = -book.bids.keys[0] * book.tm / book.td if book.bids.keys else None
        ask = book.asks.keys[0] * book.tm / book.td if book.asks.keys else None
        return bid, ask
