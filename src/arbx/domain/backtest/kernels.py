"""Numpy kernels: arrays in, arrays out, no objects, no I/O.

Every indicator here is causal: the value at bar ``t`` is computed from inputs at bars
``<= t`` only (the no-look-ahead property tests hold them to it). Warm-up values are NaN.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _centered_cumsum(x: FloatArray) -> FloatArray:
    """``[0, cumsum(x - x[0])]`` along the last axis: the offset keeps sums small and exact-ish."""
    base = x[..., :1]
    zeros = np.zeros((*x.shape[:-1], 1))
    out: FloatArray = np.concatenate((zeros, np.cumsum(x - base, axis=-1)), axis=-1)
    return out


MAX_DECIMALS = 10
_EXACT = 2.0**53


def decimal_units(x: FloatArray) -> tuple[FloatArray, int] | None:
    """``x`` as whole multiples of ``10**-k``: ``(m, k)`` with the fewest decimals
    ``k <= MAX_DECIMALS`` such that ``m / 10**k == x`` for every value (``m`` integers
    held exactly in float64, ``|m| < 2**53``), or None.

    Exchange prices are decimals ("20123.45"); their doubles are the nearest to
    ``m / 10**k``, so the integers ``m`` recover them exactly. A sample decides quickly
    that arbitrary floats (a simulated path) are not decimals.
    """
    if x.size == 0:
        return None
    sample = x[:: max(1, x.size // 64)][:64]
    for k in range(MAX_DECIMALS + 1):
        scale = 10.0**k
        if not np.array_equal(np.rint(sample * scale) / scale, sample):
            continue
        m = np.multiply(x, scale)
        np.rint(m, out=m)
        if not np.abs(m).max() < _EXACT:  # also False for NaN
            return None
        if np.array_equal(m / scale, x):
            return m, k
    return None


def sma(x: FloatArray, window: int) -> FloatArray:
    """Simple moving average of the last ``window`` values (NaN for the first window-1)."""
    row: FloatArray = sma_many(x, np.asarray([window], dtype=np.int64))[0]
    return row


def sma_many(x: FloatArray, windows: IntArray) -> FloatArray:
    """SMAs for several windows at once: shape ``(len(windows), len(x))``.

    Decimal inputs (every exchange price) are summed exactly, in integers of their last
    decimal: each window's sum ``S`` is exact, the mean is ``(S / w + m_0) / 10**k``
    (``m`` the centred integers, ``m_0`` the first). Only the division rounds and every
    later step is the same monotone map for every window, so two windows whose exact
    means are equal get the same double (an exact tie stays a tie) and a strict order is
    never reversed. Other inputs use float sums around the first value.
    """
    n = x.size
    out = np.full((windows.size, n), np.nan)
    if n == 0:
        return out
    units = decimal_units(x)
    if units is not None:
        m, k = units
        m0 = float(m[0])
        q = m - m0  # exact: integers below 2**53
        # cumulative sums of integers stay exact while they stay below 2**53
        if float(np.abs(q).max()) * n < _EXACT:
            cs = np.concatenate(([0.0], np.cumsum(q)))
            scale = 10.0**k
            for row, w in enumerate(windows.tolist()):
                if w <= n:
                    total = cs[w:] - cs[:-w]
                    total /= w
                    total += m0
                    total /= scale
                    out[row, w - 1 :] = total
            return out
    cs_f = _centered_cumsum(x)
    for row, w in enumerate(windows.tolist()):
        if w <= n:
            out[row, w - 1 :] = (cs_f[w:] - cs_f[:-w]) / w + x[0]
    return out


def ema(x: FloatArray, span: int) -> FloatArray:
    """Exponential moving average, ``alpha = 2 / (span + 1)``, seeded with the SMA of the
    first ``span`` values at bar ``span - 1`` (NaN before).

    The update ``level += alpha * (x - level)`` keeps a level that equals the price
    exactly where it is (a flat market stays exactly flat, for every span).
    """
    n = x.size
    out = np.full(n, np.nan)
    if n < span:
        return out
    alpha = 2.0 / (span + 1.0)
    values = x.tolist()
    level = float(sma(x[:span], span)[-1])
    result = [level]
    append = result.append
    for value in values[span:]:
        level += alpha * (value - level)
        append(level)
    out[span - 1 :] = result
    return out


def cross_hold(fast: FloatArray, slow: FloatArray) -> BoolArray:
    """Long from the bar where ``fast`` crosses above ``slow`` until it crosses below.

    A cross is an event: the order of the two lines changes. Bar t crosses above when
    ``fast[t] > slow[t]`` and, at the last earlier bar where they differed,
    ``fast < slow``; an exact tie (or an undefined warm-up value) is no order, so it
    neither crosses nor ends a position (below, tie, above crosses at "above"; above,
    tie, above does not), as in vectorbt's ``crossed_above`` and backtrader's
    ``CrossOver``. A fast line that already stands above when both are first defined has
    not crossed: the first entry needs a bar below first. One row (1-D).
    """
    above = fast > slow
    below = fast < slow
    if not below.any():
        return np.zeros(above.shape, dtype=np.bool_)
    first_below = int(below.argmax())
    either = above | below
    held = above
    if not either[first_below:].all():  # ties: carry the last strict order
        last = np.maximum.accumulate(np.where(either, np.arange(either.size), 0))
        held = above[last]
    held[:first_below] = False
    return held


def rolling_mean_std(x: FloatArray, window: int) -> tuple[FloatArray, FloatArray]:
    """Rolling mean and sample std (ddof=1) over ``window`` values (NaN before)."""
    n = x.size
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    if n < window or window < 2:
        return mean, std
    d = x - x[0]
    c1 = np.concatenate(([0.0], np.cumsum(d)))
    c2 = np.concatenate(([0.0], np.cumsum(d * d)))
    s1 = c1[window:] - c1[:-window]
    s2 = c2[window:] - c2[:-window]
    mean[window - 1 :] = s1 / window + x[0]
    var = (s2 - s1 * s1 / window) / (window - 1)
    std[window - 1 :] = np.sqrt(np.maximum(var, 0.0))
    return mean, std


def zscore(x: FloatArray, window: int) -> FloatArray:
    """``(x - rolling mean) / rolling std`` over ``window``; NaN where the std is 0."""
    mean, std = rolling_mean_std(x, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - mean) / std
    return np.where(std > 1e-12 * np.abs(mean) + 0.0, z, np.nan)


def rate_of_change(x: FloatArray, window: int) -> FloatArray:
    """``x[t] / x[t - window] - 1`` (NaN before)."""
    out = np.full(x.size, np.nan)
    if x.size > window:
        out[window:] = x[window:] / x[:-window] - 1.0
    return out


def rsi(x: FloatArray, period: int) -> FloatArray:
    """Wilder's RSI in [0, 100]: smoothed average gain / loss over ``period`` changes.

    The first value (bar ``period``) uses plain means; then
    ``avg = (avg * (period - 1) + current) / period``. A flat window gives 50; no losses 100.
    """
    n = x.size
    out = np.full(n, np.nan)
    if n <= period:
        return out
    change = np.diff(x)
    gains = np.maximum(change, 0.0).tolist()
    losses = np.maximum(-change, 0.0).tolist()
    avg_gain = sum(gains[:period]) / period
    avg_loss = sum(losses[:period]) / period
    values = [_rsi_value(avg_gain, avg_loss)]
    k = period - 1
    for g, lo in zip(gains[period:], losses[period:], strict=True):
        avg_gain = (avg_gain * k + g) / period
        avg_loss = (avg_loss * k + lo) / period
        values.append(_rsi_value(avg_gain, avg_loss))
    out[period:] = values
    return out


def _rsi_value(gain: float, loss: float) -> float:
    if loss == 0.0:
        return 50.0 if gain == 0.0 else 100.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


def hold_state(enter: BoolArray, leave: BoolArray) -> FloatArray:
    """A 0/1 state that switches on at ``enter`` and off at ``leave`` (leave wins a tie).

    Vectorized latch: the state at t is the kind of the latest event at or before t.
    Works on the last axis of 1-D or 2-D inputs.
    """
    idx = np.arange(enter.shape[-1])
    last_enter = np.maximum.accumulate(np.where(enter & ~leave, idx, -1), axis=-1)
    last_leave = np.maximum.accumulate(np.where(leave, idx, -1), axis=-1)
    return (last_enter > last_leave).astype(np.float64)


def held_positions(target: FloatArray, fill_close: bool) -> FloatArray:
    """The 0/1 position held at each bar's close given decisions at each close.

    ``next_open``: a decision at bar t fills at the open of t+1, so the position held at
    close t is the decision of t-1. ``close``: it fills at the close of t.
    Works on the last axis.
    """
    if fill_close:
        return target
    held = np.zeros_like(target)
    held[..., 1:] = target[..., :-1]
    return held


def trade_bounds(held: FloatArray) -> tuple[IntArray, IntArray]:
    """Bars where a long position is opened and closed (fill bars) for one 0/1 row.

    Returns ``(entries, exits)``; ``exits`` may be one shorter when the last trade is open.
    """
    step = np.diff(held, prepend=0.0)
    return np.flatnonzero(step > 0).astype(np.int64), np.flatnonzero(step < 0).astype(np.int64)


def equity_from_trades(
    close: FloatArray,
    capital: float,
    entries: IntArray,
    exits: IntArray,
    qty: FloatArray,
    cash_in: FloatArray,
    cash_after: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mark a long-only book at each close: ``equity = cash + qty * close``.

    ``cash_in[k]`` is the cash held while trade k is open (bars ``entries[k]`` up to
    ``exits[k]``), ``cash_after[k]`` the cash once it closed. The bars form alternating
    flat / in-trade segments, expanded with one ``np.repeat`` per column.
    Returns ``(equity, cash, position)`` per bar.
    """
    n = close.size
    m = entries.size
    bounds = np.empty(2 * m + 2, dtype=np.int64)
    bounds[0] = 0
    bounds[1 : 2 * m : 2] = entries
    bounds[2 : 2 * m + 1 : 2][: exits.size] = exits
    if exits.size < m:  # the last trade is still open at the end
        bounds[2 * m] = n
    bounds[-1] = n
    lengths = np.diff(bounds)
    cash_seg = np.empty(2 * m + 1)
    cash_seg[0] = capital
    cash_seg[1::2] = cash_in
    cash_seg[2::2][: cash_after.size] = cash_after
    if cash_after.size < m:
        cash_seg[-1] = cash_in[-1]
    pos_seg = np.zeros(2 * m + 1)
    pos_seg[1::2] = qty
    cash = np.repeat(cash_seg, lengths)
    position = np.repeat(pos_seg, lengths)
    equity = cash + position * close
    return equity, cash, position


def drawdown(equity: FloatArray, capital: float) -> FloatArray:
    """``equity / running peak - 1`` (<= 0); the peak starts at the initial capital."""
    peak = np.maximum.accumulate(np.concatenate(([capital], equity)))[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, equity / peak - 1.0, 0.0)
    return np.asarray(dd, dtype=np.float64)
