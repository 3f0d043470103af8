"""The vectorized engine: long/flat signal strategies on one series, in numpy.

A strategy gives a 0/1 target per bar, decided at that bar's close from bars up to it. The
position held at each close follows from the fill mode (``kernels.held_positions``);
trades open and close where it changes. With proportional sizing and no lot rounding the
book compounds in closed form across trades (``g_k`` below), so a whole run is a handful
of array operations; otherwise a short loop over trades (not bars) sizes each one.

Per trade k with entry fill price ``pe`` and exit ``px`` (slippage applied), fee rate
``phi`` and committed fraction ``f``: ``q = f * E / (pe * (1 + phi))``, cash while open
``E - q * pe * (1 + phi)``, cash after ``cash + q * px * (1 - phi)``, so
``E_{k+1} = E_k * g_k`` with ``g_k = 1 - f + f * px * (1 - phi) / (pe * (1 + phi))``.

A venue's minimum notional skips an entry whose notional ``q * pe`` is below it (the
closed form checks its trades and hands over to the trade loop when one is too small);
volume-share slippage reads ``execution.fill_volume`` (volume known at the decision).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from arbx.domain.backtest.costs import round_lot
from arbx.domain.backtest.execution import (
    BarArrays,
    Execution,
    TradeBook,
    assemble,
    fill_volume,
)
from arbx.domain.backtest.kernels import (
    FloatArray,
    IntArray,
    equity_from_trades,
    held_positions,
    trade_bounds,
)
from arbx.domain.backtest.metrics import periods_per_year
from arbx.domain.backtest.result import BacktestResult


@dataclass(frozen=True)
class Book:
    """Per-bar arrays and per-trade columns of one simulated target."""

    equity: FloatArray
    cash: FloatArray
    position: FloatArray
    trades: TradeBook


def decision_fractions(bars: BarArrays, execution: Execution) -> FloatArray:
    return execution.sizing.fractions(bars.close, periods_per_year(bars.bar_ms))


def simulate(
    bars: BarArrays,
    target: FloatArray,
    execution: Execution,
    fractions: FloatArray | None = None,
) -> Book:
    """Simulate one 0/1 target row."""
    fill_close = execution.fill_close
    held = held_positions(np.asarray(target, dtype=np.float64), fill_close)
    entries, exits = trade_bounds(held)
    if fractions is None:
        fractions = decision_fractions(bars, execution)
    ref = bars.close if fill_close else bars.open
    decision = entries if fill_close else entries - 1
    closed = None
    if execution.closed_form:
        closed = _closed_form(ref, entries, exits, fractions[decision], execution)
        qty, _, _, trades = closed
        if execution.min_notional > 0 and (qty * trades.entry_price < execution.min_notional).any():
            closed = None  # an entry is too small for the venue: size trade by trade
    if closed is not None:
        qty, cash_in, cash_after, book = closed
    else:
        volume = (
            fill_volume(bars, execution, fill_close)
            if execution.slippage.kind == "volume_share"
            else bars.volume
        )
        qty, cash_in, cash_after, book = _trade_loop(
            ref, volume, entries, exits, fractions[decision], execution
        )
    equity, cash, position = equity_from_trades(
        bars.close, execution.capital, entries, exits, qty, cash_in, cash_after
    )
    return Book(equity, cash, position, book)


def _closed_form(
    ref: FloatArray, entries: IntArray, exits: IntArray, f: FloatArray, execution: Execution
) -> tuple[FloatArray, FloatArray, FloatArray, TradeBook]:
    phi = execution.fees.rate(taker=True)
    s = execution.slippage.fraction()
    pe = ref[entries] * (1.0 + s)
    px = ref[exits] * (1.0 - s)
    closed = exits.size
    growth = 1.0 - f[:closed] + f[:closed] * (px * (1.0 - phi)) / (pe[:closed] * (1.0 + phi))
    start = execution.capital * np.concatenate(([1.0], np.cumprod(growth)))[: entries.size]
    qty = f * start / (pe * (1.0 + phi))
    cost = qty * pe
    entry_fee = cost * phi
    cash_in = start - cost - entry_fee
    proceeds = qty[:closed] * px
    exit_fee = proceeds * phi
    cash_after = cash_in[:closed] + proceeds - exit_fee
    open_count = entries.size - closed
    book = TradeBook(
        entry_bar=entries,
        exit_bar=np.concatenate((exits, np.full(open_count, -1, dtype=np.int64))),
        qty=qty,
        entry_price=pe,
        exit_price=np.concatenate((px, np.full(open_count, np.nan))),
        entry_fee=entry_fee,
        exit_fee=np.concatenate((exit_fee, np.zeros(open_count))),
        exit_reason=["signal"] * closed + ["open"] * open_count,
    )
    return qty, cash_in, cash_after, book


def _trade_loop(
    ref: FloatArray,
    volume: FloatArray,
    entries: IntArray,
    exits: IntArray,
    f: FloatArray,
    execution: Execution,
) -> tuple[FloatArray, FloatArray, FloatArray, TradeBook]:
    """Size trade by trade (lots, notional caps, minimum notional, size-dependent slippage).

    ``volume[t]`` is the volume a fill at bar t may use (see ``execution.fill_volume``).
    """
    phi = execution.fees.rate(taker=True)
    slip = execution.slippage
    sizing = execution.sizing
    lot = execution.lot_size
    m = entries.size
    qty = np.zeros(m)
    cash_in = np.zeros(m)
    cash_after = np.zeros(exits.size)
    book = TradeBook.empty()
    cash = execution.capital
    ref_l, vol_l, f_l = ref.tolist(), volume.tolist(), f.tolist()
    for k, i in enumerate(entries.tolist()):
        budget = sizing.budget(cash, f_l[k])
        q, pe = buy_quantity(budget, ref_l[i], vol_l[i], phi, slip_fn=slip.fraction, lot=lot)
        if execution.below_min_notional(q, pe):  # no lot, or too small for the venue
            book.skipped_min_notional += 1
            q = 0.0
        entry_fee = q * pe * phi
        held_cash = cash - q * pe - entry_fee if q > 0 else cash
        qty[k], cash_in[k] = q, held_cash
        px, exit_fee = 0.0, 0.0
        if k < exits.size:
            j = int(exits[k])
            px = ref_l[j] * (1.0 - slip.fraction(q, vol_l[j]))
            proceeds = q * px
            exit_fee = proceeds * phi
            cash = held_cash + proceeds - exit_fee
            cash_after[k] = cash
        if q > 0:
            book.entry_bar.append(i)
            book.qty.append(q)
            book.entry_price.append(pe)
            book.entry_fee.append(entry_fee)
            if k < exits.size:
                book.exit_bar.append(int(exits[k]))
                book.exit_price.append(px)
                book.exit_fee.append(exit_fee)
                book.exit_reason.append("signal")
            else:
                book.exit_bar.append(-1)
                book.exit_price.append(math.nan)
                book.exit_fee.append(0.0)
                book.exit_reason.append("open")
    return qty, cash_in, cash_after, book


def buy_quantity(
    budget: float,
    ref: float,
    bar_volume: float,
    phi: float,
    *,
    slip_fn: Callable[[float, float], float],
    lot: float,
) -> tuple[float, float]:
    """Quantity and fill price for a buy spending at most ``budget`` (notional + fee).

    Size-dependent slippage is evaluated at the pre-slippage quantity (conservative).
    """
    q0 = budget / (ref * (1.0 + phi)) if ref > 0 else 0.0
    pe = ref * (1.0 + float(slip_fn(q0, bar_volume)))
    q = round_lot(budget / (pe * (1.0 + phi)), lot) if pe > 0 else 0.0
    return max(q, 0.0), pe


def run_vectorized(bars: BarArrays, target: FloatArray, execution: Execution) -> BacktestResult:
    """Run one target through the vectorized engine and assemble the full result."""
    book = simulate(bars, target, execution)
    return assemble(
        "vectorized", bars, execution, book.equity, book.cash, book.position, book.trades
    )


@dataclass(frozen=True)
class GridResult:
    """A parameter grid's outcome: one row per parameter set."""

    final_equity: FloatArray
    total_return: FloatArray
    trade_count: IntArray
    equity: FloatArray | None


def run_grid(
    bars: BarArrays, targets: FloatArray, execution: Execution, *, keep_curves: bool = False
) -> GridResult:
    """Simulate every row of a ``(P, n)`` target matrix (computed in one broadcast).

    With closed-form execution and no curves wanted, the whole grid is one array
    computation: trades of every row are found at once and each row's final equity is the
    product of its trades' growth factors (``g_k`` above). Otherwise rows run one by one.
    """
    fractions = decision_fractions(bars, execution)
    if execution.closed_form and not keep_curves:
        return _grid_closed_form(bars, targets, execution, fractions)
    rows = targets.shape[0]
    final = np.zeros(rows)
    trades = np.zeros(rows, dtype=np.int64)
    curves = np.zeros(targets.shape) if keep_curves else None
    for p in range(rows):
        book = simulate(bars, targets[p], execution, fractions)
        final[p] = book.equity[-1] if book.equity.size else execution.capital
        trades[p] = len(book.trades.qty)
        if curves is not None:
            curves[p] = book.equity
    return GridResult(final, final / execution.capital - 1.0, trades, curves)


def _grid_closed_form(
    bars: BarArrays, targets: FloatArray, execution: Execution, fractions: FloatArray
) -> GridResult:
    rows, n = targets.shape
    capital = execution.capital
    if n == 0:
        final = np.full(rows, capital)
        return GridResult(final, final / capital - 1.0, np.zeros(rows, np.int64), None)
    fill_close = execution.fill_close
    held = held_positions(np.asarray(targets).astype(np.int8, copy=False), fill_close)
    step = np.diff(held, axis=1, prepend=np.int8(0))
    e_row, e_bar = np.nonzero(step > 0)  # row-major: each row's trades in time order
    x_row, x_bar = np.nonzero(step < 0)
    entries_per_row = np.bincount(e_row, minlength=rows)
    exits_per_row = np.bincount(x_row, minlength=rows)
    row_start = np.concatenate(([0], np.cumsum(entries_per_row)[:-1]))
    rank = np.arange(e_row.size) - row_start[e_row]
    closed = rank < exits_per_row[e_row]
    ref = bars.close if fill_close else bars.open
    phi = execution.fees.rate(taker=True)
    s = execution.slippage.fraction()
    f = fractions[e_bar if fill_close else e_bar - 1]
    pe = ref[e_bar] * (1.0 + s)
    growth = np.ones(e_row.size)
    px = ref[x_bar] * (1.0 - s)
    fc = f[closed]
    growth[closed] = 1.0 - fc + fc * (px * (1.0 - phi)) / (pe[closed] * (1.0 + phi))
    # the last trade of a row may be open: mark it at the last close (no exit fee)
    is_open = ~closed
    fo = f[is_open]
    growth[is_open] = 1.0 - fo + fo * bars.close[-1] / (pe[is_open] * (1.0 + phi))
    log_total = np.bincount(e_row, weights=np.log(growth), minlength=rows)
    final = capital * np.exp(log_total)
    return GridResult(final, final / capital - 1.0, entries_per_row.astype(np.int64), None)
