"""From the books of an arbitrage run to its result: equity, attribution, benchmark.

Valuation at the close of bar t, in the common currency, with ``M_v = mark_v * rate_v``
(the venue's last close converted) and ``R_v = rate_v``:

    E_t = sum_v (base_v + base in transit to v) * M_v,t + (quote_v + quote in transit to v) * R_v,t

so money in transit is valued at its destination's rate and mark, and its arrival does not
move equity. The change of equity from t-1 to t is what was held through the bar revalued
(``inventory_revaluation`` for base, ``conversion`` for quote) plus the events of bar t
booked by ``Books`` (spread, fees, slippage, transfer and FX costs, and their revaluation
to the close); the parts add up to ``E_last - capital`` (``Attribution``).

The benchmark holds the opening balances of every venue with no trade, valued the same way.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from arbx.domain.backtest.arbitrage_book_fills import execution_notes
from arbx.domain.backtest.arbitrage_books import Books
from arbx.domain.backtest.arbitrage_market import AlignedMarket, ArbitrageConfig
from arbx.domain.backtest.kernels import BoolArray, FloatArray, drawdown
from arbx.domain.backtest.metrics import Metrics, compute_metrics
from arbx.domain.backtest.result import (
    LEG_SCHEMA,
    ORDER_SCHEMA,
    Attribution,
    BacktestResult,
    Opportunities,
    frame,
)


def _held(books: Books) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(V, n) balances after each bar's events: base, quote, base and quote in transit
    (by destination). Balances change at few bars: each row is a repeat of the states."""
    v, n = len(books.market.venues), books.market.n
    bars = np.asarray([b for b, _ in books.snapshots], dtype=np.int64)
    states = np.asarray([s for _, s in books.snapshots], dtype=np.float64)
    order = np.argsort(bars, kind="stable")
    bars, states = bars[order], states[order]
    last = np.append(bars[1:] != bars[:-1], True)  # the last state of each bar
    bars, states = bars[last], states[last]
    counts = np.diff(np.append(bars, n))
    table = np.empty((4 * v, n))
    for j in range(4 * v):
        table[j] = np.repeat(states[:, j], counts)
    return table[:v], table[v : 2 * v], table[2 * v : 3 * v], table[3 * v :]


def _value(held: FloatArray, price: FloatArray) -> FloatArray:
    """sum over venues of held * price, per bar (row by row: no (V, n) temporary)."""
    out = held[0] * price[0]
    for i in range(1, held.shape[0]):
        out += held[i] * price[i]
    return np.asarray(out, dtype=np.float64)


def _revaluation(held: FloatArray, price: FloatArray) -> float:
    """sum over bars t >= 1 and venues of held_{t-1} * (price_t - price_{t-1})."""
    if price.shape[1] < 2:
        return 0.0
    return float(sum(np.dot(held[i, :-1], np.diff(price[i])) for i in range(held.shape[0])))


def benchmark(market: AlignedMarket, cfg: ArbitrageConfig, books: Books) -> Metrics:
    """Hold the opening base and quote of every venue, trade nothing."""
    equity = np.asarray(books.start_base) @ books.value_mark
    equity += np.asarray(books.start_quote) @ market.rate
    return compute_metrics(
        equity, cfg.capital, market.bar_ms, risk_free_rate=cfg.risk_free_rate, ts=market.ts
    )


def build_result(
    market: AlignedMarket,
    cfg: ArbitrageConfig,
    books: Books,
    opp: Opportunities,
    opportunity_table: pl.DataFrame,
    notes: list[str],
    open_trades: dict[int, tuple[int, int, float]],
) -> BacktestResult:
    """``open_trades``: trade id -> (venue bought, venue sold, qty still open)."""
    base, quote, tbase, tquote = _held(books)
    marks, rates = books.value_mark, market.rate
    held_base, held_quote = base + tbase, quote + tquote
    equity = _value(held_base, marks) + _value(held_quote, rates)
    total = float(equity[-1]) - cfg.capital
    parts = {
        "spread": books.spread,
        "fees": -books.fees,
        "slippage": -books.slippage,
        "transfer_fees": -books.transfer_fees,
        "fx_costs": -books.fx_costs,
        "inventory_revaluation": _revaluation(held_base, marks) + books.event_revaluation,
        "conversion": _revaluation(held_quote, rates) + books.event_conversion,
    }
    attribution = Attribution(total_pnl=total, **parts, residual=total - sum(parts.values()))

    ts = pl.Series("ts", market.ts, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC"))
    balances: dict[str, pl.Series] = {"ts": ts}
    for i, label in enumerate(market.labels):
        balances[f"{label}:base"] = pl.Series(base[i])
        balances[f"{label}:quote"] = pl.Series(quote[i])
    for i, label in enumerate(market.labels):
        balances[f"{label}:transit_base"] = pl.Series(tbase[i])
        balances[f"{label}:transit_quote"] = pl.Series(tquote[i])
    balances["transit_base"] = pl.Series(tbase.sum(axis=0))
    balances["transit_quote"] = pl.Series(tquote.sum(axis=0))  # destination units

    if open_trades:
        is_open = books.legs["is_open"]
        for k, trade in enumerate(books.legs["trade_id"]):
            if trade in open_trades:
                is_open[k] = True
    legs = frame(books.legs, LEG_SCHEMA)
    pnl, ret, still_open = _round_trip_pnl(
        legs.filter(pl.col("trade_id") >= 0), market, books, open_trades
    )
    metrics = compute_metrics(
        equity,
        cfg.capital,
        market.bar_ms,
        risk_free_rate=cfg.risk_free_rate,
        ts=market.ts,
        trade_pnl=pnl[~still_open],
        trade_return=ret[~still_open],
        open_trades=int(still_open.sum()),
        traded_notional=books.notional,
        fees_paid=books.fees + books.transfer_fees + books.fx_costs,
    )
    curve = pl.DataFrame(
        {
            "ts": ts,
            "equity": equity,
            "drawdown": drawdown(equity, cfg.capital),
            "cash": _value(quote, rates),
            "position": base.sum(axis=0) + tbase.sum(axis=0),
        }
    )
    return BacktestResult(
        engine="arbitrage",
        fill=cfg.fill,
        capital=cfg.capital,
        curve=curve,
        trades=legs,
        orders=pl.DataFrame(schema=ORDER_SCHEMA),
        fills=legs,
        metrics=metrics,
        benchmark=benchmark(market, cfg, books),
        balances=pl.DataFrame(balances),
        opportunities=opp,
        notes=[*market.notes, *notes, *execution_notes(books)],
        common_currency=market.common_currency,
        attribution=attribution,
        opportunity_table=opportunity_table,
        execution=cfg.execution,
        synthetic=cfg.execution == "synthetic_book",
    )


def _round_trip_pnl(
    legs: pl.DataFrame,
    market: AlignedMarket,
    books: Books,
    open_trades: dict[int, tuple[int, int, float]],
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Per trade id in order of appearance: pnl in the common currency (an open trade marked
    to market at the last bar: its long leg at the bought venue's mark, its short leg at the
    sold venue's), return on the bought notional, and whether it is still open."""
    if legs.is_empty():
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
    book = {label: i for i, label in enumerate(market.labels)}
    rows = [
        book[f"{v}:{s}"]
        for v, s in zip(legs["venue"].to_list(), legs["symbol"].to_list(), strict=True)
    ]
    rates = market.rate[rows, legs["bar"].to_numpy()]
    sign = np.where(legs["side"].to_numpy() == "sell", 1.0, -1.0)
    qty, price = legs["qty"].to_numpy(), legs["price"].to_numpy()
    cash = (sign * qty * price - legs["fee"].to_numpy()) * rates
    spent = np.where(sign < 0, qty * price * rates, 0.0)
    per = (
        pl.DataFrame({"id": legs["trade_id"], "cash": cash, "spent": spent})
        .group_by("id", maintain_order=True)
        .agg(pl.col("cash").sum(), pl.col("spent").sum())
    )
    pnl = per["cash"].to_numpy().copy()
    ids = per["id"].to_list()
    still_open = np.asarray([t in open_trades for t in ids], dtype=bool)
    last = market.n - 1
    for k, trade in enumerate(ids):
        if trade in open_trades:
            bought, sold, q = open_trades[trade]
            pnl[k] += q * (books.value_mark[bought, last] - books.value_mark[sold, last])
    spent_total = per["spent"].to_numpy()
    ret = np.where(spent_total > 0, pnl / np.where(spent_total > 0, spent_total, 1.0), 0.0)
    return pnl, ret, still_open
