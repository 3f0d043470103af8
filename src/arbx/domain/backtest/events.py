"""The event-driven engine: one series, bar by bar, for everything path-dependent.

Per bar ``t`` the engine, in this order:

1. fills pending orders against bar t: market orders at the open, limit orders when the
   bar trades through the limit (at the limit, or the open if it gapped past it), stop
   orders when the bar trades through the stop (at the stop or the open, whichever is
   worse); a fill takes at most ``max_volume_share * V`` and the rest stays pending, where
   ``V`` is the volume known when the order could last be acted on (the mean over
   ``Execution.volume_window`` bars up to t-1 for fills inside bar t, up to t for fills at
   its close; see ``execution.fill_volume``), never bar t's own volume; volume-share
   slippage reads the same ``V``. A buy whose order is below the venue's minimum notional
   (or rounds to no lot) is cancelled at its first fill and counted;
2. checks the risk exits of an open position (stop loss, take profit, trailing stop; the
   trailing level uses highs before bar t; a bar that reaches both stop and target is taken
   as the stop);
3. marks the book at the close (``equity = cash + position * close``) and trips the
   max-drawdown kill switch (flatten, cancel everything, stop trading);
4. asks the strategy for its decision, showing it bars up to t only. With
   ``fill="close"`` market orders fill at this close and the book is marked again.

With ``books`` (``book_taker.TakerBooks``: an execution other than "bars") every market
order walks the book of its fill instant instead of taking the bar price plus slippage
(see ``book_taker``); limit and stop orders are then refused (no queue model for them on
recorded books yet).

Signal strategies (0/1 targets) act on changes of the target: 0->1 sends a market buy
sized by ``Execution.sizing``, 1->0 a market sell of the whole position. On such
strategies, without risk rules, the engine reproduces the vectorized engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import msgspec
import numpy as np
import polars as pl

from arbx.domain.backtest.book_taker import TakerBooks, affordable, take
from arbx.domain.backtest.costs import round_lot
from arbx.domain.backtest.execution import (
    BarArrays,
    Execution,
    TradeBook,
    assemble,
    fill_volume,
)
from arbx.domain.backtest.kernels import FloatArray
from arbx.domain.backtest.metrics import periods_per_year
from arbx.domain.backtest.result import FILL_SCHEMA, ORDER_SCHEMA, BacktestResult, frame
from arbx.domain.errors import InvalidInput

OrderKind = Literal["market", "limit", "stop"]


class RiskRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Path-dependent rules; fractions are of the entry price / of the peak equity."""

    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    max_position: float | None = None
    max_drawdown: float | None = None
    max_volume_share: float | None = None

    def __post_init__(self) -> None:
        for name in ("stop_loss", "trailing_stop", "max_drawdown", "max_volume_share"):
            value = getattr(self, name)
            if value is not None and not (0.0 < value <= 1.0):
                raise InvalidInput(
                    f"risk.{name} must be in (0, 1], got {value!r}", field=f"risk.{name}"
                )
        for name in ("take_profit", "max_position"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0.0):
                raise InvalidInput(f"risk.{name} must be > 0, got {value!r}", field=f"risk.{name}")

    @property
    def active(self) -> bool:
        return any(v is not None for v in msgspec.structs.astuple(self))


@dataclass(slots=True)
class Order:
    order_id: int
    side: int  # +1 buy, -1 sell
    kind: OrderKind
    created_bar: int
    qty: float | None  # None: size the buy at its first fill from ``fraction``
    fraction: float = 1.0
    limit: float | None = None
    stop: float | None = None
    filled: float = 0.0
    status: str = "open"
    reason: str = "strategy"
    series: str = ""  # the series it trades (several-series runs: "venue:BASE/QUOTE")


class Context:
    """What a strategy sees at bar t: bars up to t, its book, and order entry."""

    def __init__(self, engine: _Engine) -> None:
        self._engine = engine
        self.t = 0

    def history(self) -> BarArrays:
        """Bars 0..t (views): nothing after t is reachable from here."""
        return self._engine.bars.head(self.t + 1)

    @property
    def position(self) -> float:
        return self._engine.position

    @property
    def cash(self) -> float:
        return self._engine.cash

    @property
    def equity(self) -> float:
        return self._engine.cash + self._engine.position * float(self._engine.close[self.t])

    @property
    def open_orders(self) -> list[Order]:
        return [o for o in self._engine.pending]

    def buy(
        self,
        qty: float | None = None,
        *,
        fraction: float = 1.0,
        kind: OrderKind = "market",
        limit: float | None = None,
        stop: float | None = None,
    ) -> Order:
        """Buy ``qty`` base, or (``qty=None``) as much as ``Execution.sizing`` allows."""
        return self._engine.submit(+1, kind, qty, fraction, limit, stop, "strategy")

    def sell(
        self,
        qty: float | None = None,
        *,
        kind: OrderKind = "market",
        limit: float | None = None,
        stop: float | None = None,
    ) -> Order:
        """Sell ``qty`` base, or the whole position when ``qty`` is None."""
        return self._engine.submit(-1, kind, qty, 1.0, limit, stop, "strategy")

    def cancel(self, order: Order) -> None:
        """Cancel one pending order (a partly filled one keeps what it filled)."""
        if order in self._engine.pending:
            self._engine._close_order(
                order, "cancelled" if order.filled == 0 else "partially_filled"
            )

    def cancel_all(self) -> None:
        self._engine.cancel_all()


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill of a strategy's order, as ``on_fill`` receives it (side +1 buy, -1 sell)."""

    order_id: int
    bar: int
    side: int
    qty: float
    price: float
    fee: float
    liquidity: str
    series: str = ""  # the series it traded (several-series runs: "venue:BASE/QUOTE")


class EventStrategy(Protocol):
    def on_bar(self, ctx: Context) -> None: ...


@dataclass
class _Engine:
    bars: BarArrays
    execution: Execution
    risk: RiskRules
    close: FloatArray
    cash: float = 0.0
    position: float = 0.0
    pending: list[Order] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    fills: list[tuple[int, int, int, float, float, float, str]] = field(default_factory=list)
    book: TradeBook = field(default_factory=TradeBook.empty)
    # the open trade: bought qty, cost, fees in; sold qty, proceeds, fees out
    tb: list[float] = field(default_factory=lambda: [0.0] * 6)
    entry_bar: int = -1
    peak_high: float = 0.0
    # (bar, cash, position) after every fill: the book between fills is constant
    states: list[tuple[int, float, float]] = field(default_factory=list)
    # the volume a fill inside bar t / at the close of t may use (None: no cost reads it)
    volume_in_bar: list[float] | None = None
    volume_at_close: list[float] | None = None
    at_close: bool = False
    # fills not yet shown to an event strategy's ``on_fill`` (None: it has none)
    new_fills: list[Fill] | None = None
    # market orders walk these books (None: bar prices and the slippage model)
    books: TakerBooks | None = None
    # market-order attempts a book could not fill in full (the rest stayed pending)
    book_shortfalls: int = 0

    def __post_init__(self) -> None:
        ex = self.execution
        if ex.slippage.kind == "volume_share" or self.risk.max_volume_share is not None:
            self.volume_in_bar = fill_volume(self.bars, ex, at_close=False).tolist()
            self.volume_at_close = fill_volume(self.bars, ex, at_close=True).tolist()

    def known_volume(self, t: int) -> float:
        table = self.volume_at_close if self.at_close else self.volume_in_bar
        return table[t] if table is not None else 0.0

    def book_states(self, n: int) -> tuple[FloatArray, FloatArray]:
        """Cash and position held at each bar's close (after that bar's fills)."""
        if not self.states:
            return np.full(n, self.execution.capital), np.zeros(n)
        snap = np.asarray(self.states, dtype=np.float64)
        idx = np.searchsorted(snap[:, 0], np.arange(n), side="right") - 1
        safe = np.maximum(idx, 0)
        cash = np.where(idx >= 0, snap[safe, 1], self.execution.capital)
        position = np.where(idx >= 0, snap[safe, 2], 0.0)
        return cash, position

    def submit(
        self,
        side: int,
        kind: OrderKind,
        qty: float | None,
        fraction: float,
        limit: float | None,
        stop: float | None,
        reason: str,
    ) -> Order:
        if kind == "limit" and limit is None:
            raise InvalidInput("a limit order needs a limit price", field="limit")
        if kind == "stop" and stop is None:
            raise InvalidInput("a stop order needs a stop price", field="stop")
        if qty is not None and not (math.isfinite(qty) and qty > 0):
            raise InvalidInput(f"order quantity must be > 0, got {qty!r}", field="qty")
        if self.books is not None and kind != "market":
            raise InvalidInput(
                f"a {kind} order cannot fill on order books yet (only market orders walk the"
                " book); use execution 'bars' for limit and stop orders",
                field="execution",
            )
        order = Order(len(self.orders), side, kind, -1, qty, fraction, limit, stop, reason=reason)
        self.orders.append(order)
        self.pending.append(order)
        return order

    def cancel_all(self) -> None:
        for order in self.pending:
            order.status = "cancelled" if order.filled == 0 else "partially_filled"
        self.pending.clear()

    def fill(self, order: Order, t: int, price: float, liquidity: str) -> None:
        """Fill as much of ``order`` as cash, position, limits and bar volume allow."""
        ex = self.execution
        taker = liquidity == "taker"
        if taker and self.books is not None:
            self._fill_on_book(order, t)
            return
        phi = ex.fees.rate(taker=taker)
        vol = self.known_volume(t)
        if order.side > 0:
            # Slippage is evaluated at the intended pre-slippage quantity (as in the
            # vectorized engine): the sized amount for a sized order, else what remains.
            if order.qty is None:
                budget = ex.sizing.budget(self.cash, order.fraction)
                slip_q = budget / (price * (1.0 + phi))
                slip = ex.slippage.fraction(slip_q, vol) if taker else 0.0
                px = price * (1.0 + slip)
                order.qty = round_lot(budget / (px * (1.0 + phi)), ex.lot_size)
            else:
                slip = ex.slippage.fraction(order.qty - order.filled, vol) if taker else 0.0
                px = price * (1.0 + slip)
            if order.filled == 0.0 and ex.below_min_notional(order.qty, px):
                self.book.skipped_min_notional += 1
                self._close_order(order, "rejected")
                return
            remaining = order.qty - order.filled
            if self.risk.max_position is not None:
                remaining = min(remaining, self.risk.max_position - self.position)
            if self.risk.max_volume_share is not None:
                remaining = min(remaining, round_lot(self.risk.max_volume_share * vol, ex.lot_size))
            affordable = round_lot(self.cash / (px * (1.0 + phi)), ex.lot_size)
            q = min(remaining, affordable)
        else:
            if order.qty is None:
                order.qty = self.position
            remaining = min(order.qty - order.filled, self.position)
            if self.risk.max_volume_share is not None:
                remaining = min(remaining, self.risk.max_volume_share * vol)
            q = remaining
            slip = ex.slippage.fraction(q, vol) if taker else 0.0
            px = price * (1.0 - slip)
        if q <= 0.0:
            if order.side < 0 and self.position <= 0.0:
                self._close_order(order, "filled" if order.filled else "cancelled")
            elif order.side > 0 and (order.qty is None or order.qty <= 0.0):
                self._close_order(order, "cancelled")
            return
        self._book_fill(order, t, q, px, phi, liquidity)

    def _fill_on_book(self, order: Order, t: int) -> None:
        """A market order walks the book of bar t's fill instant (``book_taker``); what the
        book cannot fill stays pending for the next bar."""
        assert self.books is not None
        ex, risk = self.execution, self.risk
        book = self.books.at(t)
        phi = ex.fees.rate(taker=True)
        vol = self.known_volume(t)
        if order.side > 0:
            if order.qty is None:
                budget = ex.sizing.budget(self.cash, order.fraction)
                sized = round_lot(affordable(book, budget / (1.0 + phi)), ex.lot_size)
                if sized <= 0.0:  # no asks to size on: try again on the next bar's book
                    self.book_shortfalls += 1
                    return
                order.qty = sized
            if order.filled == 0.0:
                probe = book.walk("buy", order.qty)
                if probe.filled <= 0.0:
                    self.book_shortfalls += 1
                    return
                if ex.below_min_notional(order.qty, probe.average_price):
                    self.book.skipped_min_notional += 1
                    self._close_order(order, "rejected")
                    return
            want = order.qty - order.filled
            if risk.max_position is not None:
                want = min(want, risk.max_position - self.position)
            if risk.max_volume_share is not None:
                want = min(want, round_lot(risk.max_volume_share * vol, ex.lot_size))
            cash_cap = round_lot(affordable(book, self.cash / (1.0 + phi)), ex.lot_size)
            q = min(want, cash_cap)
            walk = take(book, "buy", q, ex.lot_size)
        else:
            if order.qty is None:
                order.qty = self.position
            want = min(order.qty - order.filled, self.position)
            if risk.max_volume_share is not None:
                want = min(want, risk.max_volume_share * vol)
            if want <= 0.0 and self.position <= 0.0:
                self._close_order(order, "filled" if order.filled else "cancelled")
                return
            walk = take(book, "sell", want, 0.0)
        if walk is None:
            self.book_shortfalls += 1
            return
        if walk.filled < walk.requested:
            self.book_shortfalls += 1
        self._book_fill(order, t, walk.filled, walk.average_price, phi, "taker")

    def _book_fill(
        self, order: Order, t: int, q: float, px: float, phi: float, liquidity: str
    ) -> None:
        notional = q * px
        fee = notional * phi
        tb = self.tb
        if order.side > 0:
            if self.position <= 0.0:
                self.entry_bar = t
                self.peak_high = px
            self.cash -= notional + fee
            self.position += q
            tb[0] += q
            tb[1] += notional
            tb[2] += fee
        else:
            self.cash += notional - fee
            self.position -= q
            tb[3] += q
            tb[4] += notional
            tb[5] += fee
            if self.position <= 1e-12 * tb[0]:
                self.position = 0.0
                self._close_trade(t, order.reason)
        order.filled += q
        self.fills.append((order.order_id, t, order.side, q, px, fee, liquidity))
        self.states.append((t, self.cash, self.position))
        if order.qty is not None and order.filled >= order.qty - 1e-12 * order.qty:
            self._close_order(order, "filled")
        if self.new_fills is not None:
            self.new_fills.append(Fill(order.order_id, t, order.side, q, px, fee, liquidity))

    def _close_order(self, order: Order, status: str) -> None:
        order.status = status
        if order in self.pending:
            self.pending.remove(order)

    def _close_trade(self, t: int, reason: str) -> None:
        tb = self.tb
        b = self.book
        b.entry_bar.append(self.entry_bar)
        b.exit_bar.append(t)
        b.qty.append(tb[0])
        b.entry_price.append(tb[1] / tb[0])
        b.exit_price.append(tb[4] / tb[3])
        b.entry_fee.append(tb[2])
        b.exit_fee.append(tb[5])
        b.exit_reason.append(reason)
        self.tb = [0.0] * 6

    def finish(self) -> None:
        if self.position > 0 and self.tb[0] > 0:
            tb = self.tb
            b = self.book
            b.entry_bar.append(self.entry_bar)
            b.exit_bar.append(-1)
            b.qty.append(self.position)
            b.entry_price.append(tb[1] / tb[0])
            b.exit_price.append(math.nan)
            b.entry_fee.append(tb[2] * self.position / tb[0])
            b.exit_fee.append(0.0)
            b.exit_reason.append("open")
        for order in self.pending:
            order.status = "open" if order.filled == 0 else "partially_filled"

    def process_pending(self, t: int, o: float, h: float, lo: float, market: bool) -> None:
        for order in list(self.pending):
            if order.kind == "market":
                if market:
                    self.fill(order, t, o, "taker")
            elif order.kind == "limit":
                assert order.limit is not None
                if order.side > 0 and lo <= order.limit:
                    self.fill(order, t, min(o, order.limit), "maker")
                elif order.side < 0 and h >= order.limit:
                    self.fill(order, t, max(o, order.limit), "maker")
            else:
                assert order.stop is not None
                if order.side > 0 and h >= order.stop:
                    self.fill(order, t, max(o, order.stop), "taker")
                elif order.side < 0 and lo <= order.stop:
                    self.fill(order, t, min(o, order.stop), "taker")

    def risk_exit(self, t: int, o: float, h: float, lo: float) -> None:
        risk = self.risk
        entry = self.tb[1] / self.tb[0] if self.tb[0] > 0 else o
        stop_level = -math.inf
        reason = ""
        if risk.stop_loss is not None:
            stop_level = entry * (1.0 - risk.stop_loss)
            reason = "stop_loss"
        if risk.trailing_stop is not None:
            trail = self.peak_high * (1.0 - risk.trailing_stop)
            if trail > stop_level:
                stop_level, reason = trail, "trailing_stop"
        if lo <= stop_level:
            self._exit_now(t, min(o, stop_level), "taker", reason)
        elif risk.take_profit is not None and h >= entry * (1.0 + risk.take_profit):
            self._exit_now(t, max(o, entry * (1.0 + risk.take_profit)), "maker", "take_profit")
        if self.position > 0:
            self.peak_high = max(self.peak_high, h)

    def _exit_now(self, t: int, price: float, liquidity: str, reason: str) -> None:
        for order in list(self.pending):
            if order.side > 0:
                self._close_order(order, "cancelled" if order.filled == 0 else "partially_filled")
        order = self.submit(-1, "market", None, 1.0, None, None, reason)
        order.created_bar = t
        self.fill(order, t, price, liquidity)


def run_events(
    bars: BarArrays,
    execution: Execution,
    *,
    target: FloatArray | None = None,
    strategy: EventStrategy | None = None,
    risk: RiskRules | None = None,
    books: TakerBooks | None = None,
) -> BacktestResult:
    """Run a 0/1 ``target`` (signal strategy) or an ``EventStrategy`` bar by bar (market
    orders walking ``books`` when given)."""
    if (target is None) == (strategy is None):
        raise InvalidInput("give the event engine either a target or a strategy", field="strategy")
    rules = risk or RiskRules()
    if books is not None:
        if execution.slippage.kind != "none":
            raise InvalidInput(
                "on order books a fill's slippage is the walk of the book; set slippage"
                " kind 'none'",
                field="slippage",
            )
        exits = ("stop_loss", "take_profit", "trailing_stop")
        for name in exits:
            if getattr(rules, name) is not None:
                raise InvalidInput(
                    f"risk.{name} triggers on bar highs and lows and cannot fill on order"
                    " books yet; use execution 'bars'",
                    field=f"risk.{name}",
                )
    eng = _Engine(bars, execution, rules, bars.close, cash=execution.capital, books=books)
    ctx = Context(eng)
    listener = getattr(strategy, "on_fill", None)
    if callable(listener):
        eng.new_fills = []
    deliver = _fill_listener(eng, ctx, listener) if callable(listener) else None
    n = bars.n
    fill_close = execution.fill_close
    opens, highs, lows, closes = (
        bars.open.tolist(),
        bars.high.tolist(),
        bars.low.tolist(),
        bars.close.tolist(),
    )
    fractions = execution.sizing.fractions(bars.close, periods_per_year(bars.bar_ms)).tolist()
    targets = target.tolist() if target is not None else None
    has_risk = (
        rules.stop_loss is not None
        or rules.take_profit is not None
        or (rules.trailing_stop is not None)
    )
    kill = rules.max_drawdown
    peak = execution.capital
    killed = False
    prev = 0.0
    pending = eng.pending
    submit = eng.submit
    for t in range(n):
        if pending:
            eng.process_pending(t, opens[t], highs[t], lows[t], not fill_close)
        # A position entered at this bar's open can still hit its levels in the bar.
        if has_risk and eng.position > 0 and (eng.entry_bar < t or not fill_close):
            eng.risk_exit(t, opens[t], highs[t], lows[t])
        if kill is not None and not killed:
            eq = eng.cash + eng.position * closes[t]
            peak = max(peak, eq)
            if eq < peak * (1.0 - kill):
                killed = True
                eng.cancel_all()
                if eng.position > 0:
                    submit(-1, "market", None, 1.0, None, None, "kill_switch").created_bar = t
        if not killed:
            if targets is not None:
                s = targets[t]
                if s != prev:
                    prev = s
                    if s > 0:
                        submit(
                            +1, "market", None, fractions[t], None, None, "signal"
                        ).created_bar = t
                    else:
                        for order in list(pending):
                            if order.side > 0:
                                eng._close_order(
                                    order, "cancelled" if order.filled == 0 else "partially_filled"
                                )
                        if eng.position > 0:
                            submit(-1, "market", None, 1.0, None, None, "signal").created_bar = t
            else:
                if deliver is not None:
                    deliver(t)
                ctx.t = t
                before = len(eng.orders)
                assert strategy is not None
                strategy.on_bar(ctx)
                for order in eng.orders[before:]:
                    order.created_bar = t
        if fill_close and pending:
            eng.at_close = True
            for order in list(pending):
                if order.kind == "market":
                    eng.fill(order, t, closes[t], "taker")
            eng.at_close = False
            if deliver is not None and not killed:
                deliver(t)
    eng.finish()
    cash, position = eng.book_states(n)
    orders, fills = _tables(bars, eng)
    equity = cash + position * bars.close  # marked at every close
    result = assemble("event", bars, execution, equity, cash, position, eng.book, orders, fills)
    if books is None:
        return result
    notes = [books.describe()]
    if eng.book_shortfalls:
        notes.append(
            f"{eng.book_shortfalls} market-order attempt(s) met a book that could not fill"
            " them in full; the rest stayed pending to the next bar's book"
        )
    return replace(
        result,
        notes=[*result.notes, *notes],
        execution=books.execution,
        synthetic=books.synthetic,
    )


def _fill_listener(
    eng: _Engine, ctx: Context, listener: Callable[[Context, Fill], None]
) -> Callable[[int], None]:
    """Shows the fills of bar t to ``on_fill(ctx, fill)`` at t's close (before ``on_bar``;
    with ``fill="close"`` the fills at the close right after them), so a fill at the open
    never reveals the rest of its bar; orders it sends are created at bar t."""
    queue = eng.new_fills

    def deliver(t: int) -> None:
        assert queue is not None
        if not queue:
            return
        fills = list(queue)
        queue.clear()
        ctx.t = t
        before = len(eng.orders)
        for fill in fills:
            listener(ctx, fill)
        for order in eng.orders[before:]:
            order.created_bar = t

    return deliver


def _tables(bars: BarArrays, eng: _Engine) -> tuple[pl.DataFrame, pl.DataFrame]:
    ts = bars.ts.tolist()
    os_ = eng.orders
    orders = frame(
        {
            "order_id": [o.order_id for o in os_],
            "created_bar": [o.created_bar for o in os_],
            "venue": [bars.venue] * len(os_),
            "side": ["buy" if o.side > 0 else "sell" for o in os_],
            "kind": [o.kind for o in os_],
            "qty": [o.qty for o in os_],
            "limit_price": [o.limit for o in os_],
            "stop_price": [o.stop for o in os_],
            "filled_qty": [o.filled for o in os_],
            "status": [o.status for o in os_],
            "reason": [o.reason for o in os_],
        },
        ORDER_SCHEMA,
    )
    fs = eng.fills
    fills = frame(
        {
            "fill_id": list(range(len(fs))),
            "order_id": [f[0] for f in fs],
            "ts": [ts[f[1]] for f in fs],
            "bar": [f[1] for f in fs],
            "venue": [bars.venue] * len(fs),
            "side": ["buy" if f[2] > 0 else "sell" for f in fs],
            "qty": [f[3] for f in fs],
            "price": [f[4] for f in fs],
            "fee": [f[5] for f in fs],
            "liquidity": [f[6] for f in fs],
        },
        FILL_SCHEMA,
    )
    return orders, fills
