"""The event engine over several series: one cash account, a position per series.

An ``@event`` strategy declared for several series (``max_series > 1``) trades two or more
series at once (two venues of one pair, or BTC and ETH) with one cash balance in their
common quote currency. The series are aligned on the union of their bar times, as
arbitrage venues are; a series without a bar at a time simply has none there (nothing is
filled in). At each time ``t`` the engine, in this order:

1. for every series with a bar at ``t``: fills its pending orders against that bar, then
   checks its risk exits, exactly as the one-series engine does (``backtest.events``), with
   that series' venue fees, lot size and minimum notional; ``risk.max_position`` and
   ``risk.max_volume_share`` hold per series;
2. marks the book: ``equity = cash + sum(position_s * last close_s)`` (the last close known
   at ``t``); ``risk.max_drawdown`` on that equity flattens every series and stops trading;
3. shows the fills of ``t`` to ``on_fill(ctx, fill)`` (``fill.series`` names the series),
   then calls ``on_bar(ctx)``: ``ctx.history(s)`` is series ``s`` up to ``t`` only (views),
   ``ctx.has_bar(s)`` says whether ``s`` has a bar at ``t``; orders name their series and
   fill from that series' next bar on (a bar after ``t``);
4. with ``fill="close"``: market orders of the series with a bar at ``t`` fill at its close.

Results use the usual tables: the curve on the aligned axis (``position`` is the gross
market value of the positions, in the quote currency), trades per series (``venue`` and
``symbol``), orders and fills with a ``symbol`` column beside ``venue``, and a balances table
(cash, then each series' position and its value per time). Bar indexes (``created_bar``,
``bar``, ``entry_bar``, ``exit_bar``) count on the aligned axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl

from arbx.domain.backtest.arbitrage_market import last_known
from arbx.domain.backtest.events import Fill, Order, OrderKind, RiskRules, _Engine
from arbx.domain.backtest.execution import BarArrays, Execution
from arbx.domain.backtest.kernels import FloatArray, IntArray, drawdown
from arbx.domain.backtest.metrics import compute_metrics
from arbx.domain.backtest.result import (
    FILL_SCHEMA,
    ORDER_SCHEMA,
    TRADE_SCHEMA,
    TS,
    BacktestResult,
    frame,
)
from arbx.domain.errors import InvalidInput

MULTI_ORDER_SCHEMA: dict[str, pl.DataType] = {**ORDER_SCHEMA, "symbol": pl.String()}
MULTI_FILL_SCHEMA: dict[str, pl.DataType] = {**FILL_SCHEMA, "symbol": pl.String()}


@dataclass(frozen=True)
class SeriesLeg:
    """One traded series of a several-series run: its bars and its venue's execution."""

    bars: BarArrays
    execution: Execution

    @property
    def label(self) -> str:
        return f"{self.bars.venue}:{self.bars.symbol}"


class _Leg(_Engine):
    """One series' book inside a several-series run: its orders, fills, position and trades
    are its own, its cash is the run's (``wallet``), its order ids the run's."""

    def __init__(
        self, leg: SeriesLeg, risk: RiskRules, wallet: list[float], ids: list[int]
    ) -> None:
        self.wallet = wallet
        self.ids = ids
        self.label = leg.label
        super().__init__(leg.bars, leg.execution, risk, leg.bars.close, cash=wallet[0])

    @property
    def cash(self) -> float:
        return self.wallet[0]

    @cash.setter
    def cash(self, value: float) -> None:
        self.wallet[0] = value

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
        order = super().submit(side, kind, qty, fraction, limit, stop, reason)
        order.order_id = self.ids[0]
        order.series = self.label
        self.ids[0] += 1
        return order


class MultiContext:
    """What a several-series event strategy sees at time ``t``: every series up to ``t``,
    the book, and order entry. A series is named by its index (the request's order), its
    label ``"venue:BASE/QUOTE"`` or its series text ``"venue:BASE/QUOTE:tf"``."""

    def __init__(self, run: _MultiRun) -> None:
        self._run = run
        self.t = 0

    @property
    def series(self) -> list[str]:
        """The labels of the series, in the request's order."""
        return [leg.label for leg in self._run.legs]

    @property
    def ts(self) -> int:
        """The time of ``t`` (epoch ms, bar open)."""
        return int(self._run.axis[self.t])

    def has_bar(self, series: int | str = 0) -> bool:
        """True when ``series`` has a bar at ``t``."""
        return bool(self._run.local[self._run.index(series)][self.t] >= 0)

    def history(self, series: int | str = 0) -> BarArrays:
        """``series``' bars up to ``t`` (views): nothing after ``t`` is reachable."""
        i = self._run.index(series)
        return self._run.legs[i].bars.head(int(self._run.seen[i][self.t]))

    def position(self, series: int | str = 0) -> float:
        return self._run.legs[self._run.index(series)].position

    @property
    def positions(self) -> dict[str, float]:
        return {leg.label: leg.position for leg in self._run.legs}

    @property
    def cash(self) -> float:
        return self._run.wallet[0]

    @property
    def equity(self) -> float:
        return self._run.equity_at(self.t)

    @property
    def open_orders(self) -> list[Order]:
        return [o for leg in self._run.legs for o in leg.pending]

    def buy(
        self,
        series: int | str,
        qty: float | None = None,
        *,
        fraction: float = 1.0,
        kind: OrderKind = "market",
        limit: float | None = None,
        stop: float | None = None,
    ) -> Order:
        """Buy ``qty`` base of ``series``, or (``qty=None``) for ``fraction`` of the cash
        (``Execution.sizing``)."""
        if not (math.isfinite(fraction) and 0.0 < fraction <= 1.0):
            raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
        leg = self._run.legs[self._run.index(series)]
        order = leg.submit(+1, kind, qty, fraction, limit, stop, "strategy")
        order.created_bar = self.t
        return order

    def sell(
        self,
        series: int | str,
        qty: float | None = None,
        *,
        kind: OrderKind = "market",
        limit: float | None = None,
        stop: float | None = None,
    ) -> Order:
        """Sell ``qty`` base of ``series``, or its whole position when ``qty`` is None."""
        leg = self._run.legs[self._run.index(series)]
        order = leg.submit(-1, kind, qty, 1.0, limit, stop, "strategy")
        order.created_bar = self.t
        return order

    def cancel(self, order: Order) -> None:
        """Cancel one pending order (a partly filled one keeps what it filled)."""
        for leg in self._run.legs:
            if order in leg.pending:
                leg._close_order(order, "cancelled" if order.filled == 0 else "partially_filled")

    def cancel_all(self, series: int | str | None = None) -> None:
        """Cancel every pending order (of ``series`` only, when given)."""
        legs = self._run.legs if series is None else [self._run.legs[self._run.index(series)]]
        for leg in legs:
            leg.cancel_all()


class _MultiRun:
    def __init__(self, legs: Sequence[SeriesLeg], risk: RiskRules, capital: float) -> None:
        if len(legs) < 2:
            raise InvalidInput(
                "a several-series event run needs two series or more", field="series"
            )
        self.wallet = [capital]
        self.ids = [0]
        self.legs = [_Leg(leg, risk, self.wallet, self.ids) for leg in legs]
        stamps = [leg.bars.ts for leg in legs]
        merged = np.unique(np.concatenate(stamps))
        self.axis: IntArray = merged.astype(np.int64)
        n = int(self.axis.size)
        self.n = n
        # per series: local bar index at each time (-1: none), bars seen up to it, marks
        self.local: list[IntArray] = []
        self.seen: list[IntArray] = []
        self.where: list[IntArray] = []  # local bar -> time index
        self.marks: list[FloatArray] = []
        for leg in legs:
            ts = leg.bars.ts
            where = np.searchsorted(self.axis, ts).astype(np.int64)
            local = np.full(n, -1, dtype=np.int64)
            local[where] = np.arange(ts.size, dtype=np.int64)
            self.local.append(local)
            self.where.append(where)
            self.seen.append(np.searchsorted(ts, self.axis, side="right").astype(np.int64))
            mark = last_known(ts, leg.bars.close, self.axis)
            self.marks.append(np.where(np.isfinite(mark), mark, 0.0))
        self.mark_lists = [m.tolist() for m in self.marks]
        labels = [leg.label for leg in self.legs]
        self.names: dict[str, int] = {}
        for i, leg in enumerate(legs):
            self.names[labels[i]] = i
            self.names[f"{labels[i]}:{_tf(leg.bars.bar_ms)}"] = i

    def index(self, series: int | str) -> int:
        if isinstance(series, bool) or not isinstance(series, int | str | np.integer):
            raise TypeError(f"name a series by its index or label, got {series!r}")
        if isinstance(series, str):
            found = self.names.get(series)
            if found is None:
                labels = ", ".join(leg.label for leg in self.legs)
                raise KeyError(f"no series {series!r} in this run; its series are {labels}")
            return found
        if not 0 <= int(series) < len(self.legs):
            raise IndexError(f"series index {series} is not in 0..{len(self.legs) - 1}")
        return int(series)

    def equity_at(self, t: int) -> float:
        eq = self.wallet[0]
        for leg, marks in zip(self.legs, self.mark_lists, strict=True):
            if leg.position:
                eq += leg.position * marks[t]
        return eq


def _tf(bar_ms: int) -> str:
    for unit, ms in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if bar_ms % ms == 0:
            return f"{bar_ms // ms}{unit}"
    return f"{bar_ms}ms"


def run_multi_events(
    legs: Sequence[SeriesLeg],
    strategy: Any,
    *,
    risk: RiskRules | None = None,
    capital: float | None = None,
) -> BacktestResult:
    """Run an event strategy (``on_bar(ctx)``, optionally ``on_fill(ctx, fill)``, with a
    ``MultiContext``) over several series; see the module docstring."""
    rules = risk or RiskRules()
    first = legs[0].execution
    start_cash = first.capital if capital is None else capital
    run = _MultiRun(legs, rules, start_cash)
    ctx = MultiContext(run)
    listener = getattr(strategy, "on_fill", None)
    if callable(listener):
        for leg in run.legs:
            leg.new_fills = []
    fill_close = first.fill_close
    has_risk = (
        rules.stop_loss is not None
        or rules.take_profit is not None
        or rules.trailing_stop is not None
    )
    ohlc = [
        (b.open.tolist(), b.high.tolist(), b.low.tolist(), b.close.tolist())
        for b in (leg.bars for leg in run.legs)
    ]
    locals_ = [x.tolist() for x in run.local]
    n = run.n
    equity = np.empty(n)
    cash = np.empty(n)
    held = np.empty((len(run.legs), n))
    kill = rules.max_drawdown
    peak = start_cash
    killed = False
    for t in range(n):
        active = [(k, locals_[k][t]) for k in range(len(run.legs)) if locals_[k][t] >= 0]
        for k, i in active:
            leg = run.legs[k]
            o, h, lo, _c = ohlc[k]
            if leg.pending:
                leg.process_pending(i, o[i], h[i], lo[i], not fill_close)
            if has_risk and leg.position > 0 and (leg.entry_bar < i or not fill_close):
                before = len(leg.orders)
                leg.risk_exit(i, o[i], h[i], lo[i])
                for order in leg.orders[before:]:
                    order.created_bar = t
        if kill is not None and not killed:
            eq = run.equity_at(t)
            peak = max(peak, eq)
            if eq < peak * (1.0 - kill):
                killed = True
                for leg in run.legs:
                    leg.cancel_all()
                    if leg.position > 0:
                        leg.submit(
                            -1, "market", None, 1.0, None, None, "kill_switch"
                        ).created_bar = t
        if not killed:
            if listener is not None and callable(listener):
                _deliver(run, ctx, t, listener)
            ctx.t = t
            strategy.on_bar(ctx)
        if fill_close:
            for k, i in active:
                leg = run.legs[k]
                if not leg.pending:
                    continue
                leg.at_close = True
                for order in list(leg.pending):
                    if order.kind == "market":
                        leg.fill(order, i, ohlc[k][3][i], "taker")
                leg.at_close = False
            if listener is not None and callable(listener) and not killed:
                _deliver(run, ctx, t, listener)
        equity[t] = run.equity_at(t)
        cash[t] = run.wallet[0]
        for k, leg in enumerate(run.legs):
            held[k, t] = leg.position
    for leg in run.legs:
        leg.finish()
    return _assemble(run, first, start_cash, equity, cash, held)


def _deliver(
    run: _MultiRun, ctx: MultiContext, t: int, listener: Callable[[Any, Fill], None]
) -> None:
    """The fills since the last delivery, at ``t``'s close, with their series and the bar
    on the aligned axis (as ``events._fill_listener`` does for one series)."""
    fills: list[Fill] = []
    for k, leg in enumerate(run.legs):
        queue = leg.new_fills
        if queue:
            fills += [replace(f, bar=int(run.where[k][f.bar]), series=leg.label) for f in queue]
            queue.clear()
    if not fills:
        return
    fills.sort(key=lambda f: (f.bar, f.order_id))
    ctx.t = t
    for fill in fills:
        listener(ctx, fill)


def _assemble(
    run: _MultiRun,
    execution: Execution,
    capital: float,
    equity: FloatArray,
    cash: FloatArray,
    held: FloatArray,
) -> BacktestResult:
    marks = np.vstack(run.marks)
    values = held * marks
    gross = np.abs(values).sum(axis=0)
    trades, pnl, ret, is_open = _trades(run)
    orders, fills = _tables(run)
    notional = float((fills["qty"] * fills["price"]).sum()) if fills.height else 0.0
    fees_paid = float(fills["fee"].sum()) if fills.height else 0.0
    dd = drawdown(equity, capital)
    bar_ms = run.legs[0].bars.bar_ms
    metrics = compute_metrics(
        equity,
        capital,
        bar_ms,
        risk_free_rate=execution.risk_free_rate,
        trade_pnl=pnl[~is_open],
        trade_return=ret[~is_open],
        open_trades=int(is_open.sum()),
        exposed=gross,
        traded_notional=notional,
        fees_paid=fees_paid,
        drawdown=dd,
        ts=run.axis,
        skipped_min_notional=sum(leg.book.skipped_min_notional for leg in run.legs),
    )
    ts = pl.Series("ts", run.axis, dtype=pl.Int64).cast(TS)
    curve = pl.DataFrame(
        {"ts": ts, "equity": equity, "drawdown": dd, "cash": cash, "position": gross}
    )
    balances: dict[str, pl.Series] = {"ts": ts, "cash": pl.Series(cash)}
    for k, leg in enumerate(run.legs):
        balances[f"{leg.label}:position"] = pl.Series(held[k])
        balances[f"{leg.label}:value"] = pl.Series(values[k])
    return BacktestResult(
        engine="event",
        fill=execution.fill,
        capital=capital,
        curve=curve,
        trades=trades,
        orders=orders,
        fills=fills,
        metrics=metrics,
        balances=pl.DataFrame(balances),
        notes=["fills at the deciding bar's close are optimistic"] if execution.fill_close else [],
    )


def _trades(run: _MultiRun) -> tuple[pl.DataFrame, FloatArray, FloatArray, Any]:
    rows: list[tuple[Any, ...]] = []
    for k, leg in enumerate(run.legs):
        b, bars, where = leg.book, leg.bars, run.where[k]
        last_close = float(bars.close[-1]) if bars.n else math.nan
        for j in range(len(b.qty)):
            qty, entry_px, exit_bar = b.qty[j], b.entry_price[j], b.exit_bar[j]
            is_open = exit_bar < 0
            cost = qty * entry_px + b.entry_fee[j]
            value = qty * (last_close if is_open else b.exit_price[j])
            pnl = value - b.exit_fee[j] - cost
            rows.append(
                (
                    int(where[b.entry_bar[j]]),
                    k,
                    bars.venue,
                    bars.symbol,
                    int(bars.ts[b.entry_bar[j]]),
                    None if is_open else int(bars.ts[exit_bar]),
                    None if is_open else int(where[exit_bar]),
                    qty,
                    entry_px,
                    None if is_open else b.exit_price[j],
                    b.entry_fee[j] + b.exit_fee[j],
                    pnl,
                    pnl / cost if cost > 0 else 0.0,
                    is_open,
                    b.exit_reason[j],
                )
            )
    rows.sort(key=lambda r: (r[0], r[1]))
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [() for _ in range(15)]
    trades = frame(
        {
            "trade_id": list(range(len(rows))),
            "venue": cols[2],
            "symbol": cols[3],
            "entry_ts": cols[4],
            "exit_ts": cols[5],
            "entry_bar": cols[0],
            "exit_bar": cols[6],
            "qty": cols[7],
            "entry_price": cols[8],
            "exit_price": cols[9],
            "fees": cols[10],
            "pnl": cols[11],
            "return": cols[12],
            "is_open": cols[13],
            "exit_reason": cols[14],
        },
        TRADE_SCHEMA,
    )
    pnl = np.asarray(cols[11], dtype=np.float64)
    ret = np.asarray(cols[12], dtype=np.float64)
    is_open = np.asarray(cols[13], dtype=np.bool_)
    return trades, pnl, ret, is_open


def _tables(run: _MultiRun) -> tuple[pl.DataFrame, pl.DataFrame]:
    orders = sorted(((o, leg) for leg in run.legs for o in leg.orders), key=lambda x: x[0].order_id)
    order_table = frame(
        {
            "order_id": [o.order_id for o, _ in orders],
            "created_bar": [o.created_bar for o, _ in orders],
            "venue": [leg.bars.venue for _, leg in orders],
            "side": ["buy" if o.side > 0 else "sell" for o, _ in orders],
            "kind": [o.kind for o, _ in orders],
            "qty": [o.qty for o, _ in orders],
            "limit_price": [o.limit for o, _ in orders],
            "stop_price": [o.stop for o, _ in orders],
            "filled_qty": [o.filled for o, _ in orders],
            "status": [o.status for o, _ in orders],
            "reason": [o.reason for o, _ in orders],
            "symbol": [leg.bars.symbol for _, leg in orders],
        },
        MULTI_ORDER_SCHEMA,
    )
    fills = sorted(
        (
            (int(run.where[k][f[1]]), f[0], f, leg)
            for k, leg in enumerate(run.legs)
            for f in leg.fills
        ),
        key=lambda x: (x[0], x[1]),
    )
    fill_table = frame(
        {
            "fill_id": list(range(len(fills))),
            "order_id": [f[0] for _, _, f, _ in fills],
            "ts": [int(leg.bars.ts[f[1]]) for _, _, f, leg in fills],
            "bar": [g for g, _, _, _ in fills],
            "venue": [leg.bars.venue for _, _, _, leg in fills],
            "side": ["buy" if f[2] > 0 else "sell" for _, _, f, _ in fills],
            "qty": [f[3] for _, _, f, _ in fills],
            "price": [f[4] for _, _, f, _ in fills],
            "fee": [f[5] for _, _, f, _ in fills],
            "liquidity": [f[6] for _, _, f, _ in fills],
            "symbol": [leg.bars.symbol for _, _, _, leg in fills],
        },
        MULTI_FILL_SCHEMA,
    )
    return order_table, fill_table


class HoldEqually:
    """The benchmark of a several-series run: buy each series once, at its first bar, with
    an equal share of the cash still unspent (then hold)."""

    def __init__(self) -> None:
        self.bought: set[int] = set()

    def on_bar(self, ctx: MultiContext) -> None:
        names = ctx.series
        for i in range(len(names)):
            if i not in self.bought and ctx.has_bar(i):
                self.bought.add(i)
                ctx.buy(i, fraction=1.0 / (len(names) - len(self.bought) + 1))
