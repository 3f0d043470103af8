"""Performance metrics from an equity curve marked at each bar close and a trade list.

Notation: ``C`` initial capital, ``E_t`` equity at the close of bar t (t = 0..n-1),
``r_t = E_t / E_{t-1} - 1`` with ``E_{-1} = C``, ``P = 365 * 24h / timeframe`` bars per year,
``rf`` the annual risk-free rate and ``rf_p = rf / P`` its per-bar share.
Degenerate cases (no bars, no trades, zero volatility, no losses...) give ``None`` (JSON
null), never NaN or infinity.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from arbx.domain.backtest.kernels import FloatArray

YEAR_MS = 365 * 86_400_000


def periods_per_year(bar_ms: int) -> float:
    """Bars in a 365-day year (crypto trades 365 x 24h)."""
    return YEAR_MS / bar_ms


class Metrics(msgspec.Struct, frozen=True):
    total_return: float | None = None
    cagr: float | None = None
    annual_volatility: float | None = None
    sharpe: float | None = None
    sortino: float | None = None
    calmar: float | None = None
    max_drawdown: float | None = None
    max_drawdown_duration_bars: int | None = None
    win_rate: float | None = None
    profit_factor: float | None = None
    expectancy: float | None = None
    average_win: float | None = None
    average_loss: float | None = None
    best_trade: float | None = None
    worst_trade: float | None = None
    max_consecutive_wins: int = 0
    max_consecutive_losses: int = 0
    exposure: float | None = None
    turnover: float | None = None
    fees_paid: float = 0.0
    var_95: float | None = None
    cvar_95: float | None = None
    trade_count: int = 0
    open_trades: int = 0
    final_equity: float | None = None
    bars: int = 0


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def bar_returns(equity: FloatArray, capital: float) -> FloatArray:
    """``r_t = E_t / E_{t-1} - 1`` with ``E_{-1} = C``."""
    prev = np.concatenate(([capital], equity[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(prev != 0, equity / prev - 1.0, 0.0), dtype=np.float64)


def drawdown_stats(
    equity: FloatArray, capital: float, drawdown: FloatArray | None = None
) -> tuple[float, int]:
    """Max drawdown ``max_t (1 - E_t / max(C, E_0..E_t))`` and its duration: the longest run
    of consecutive bars spent below a previous peak (bars from the peak to recovery).
    ``drawdown`` (``E_t / peak_t - 1``, see ``kernels.drawdown``) may be passed when known."""
    if equity.size == 0:
        return 0.0, 0
    if drawdown is None:
        peak = np.maximum.accumulate(np.concatenate(([capital], equity)))[1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            drawdown = np.where(peak > 0, equity / peak - 1.0, 0.0)
    under = drawdown < 0
    if not under.any():
        return 0.0, 0
    return float(-drawdown.min()), _longest_run(under)


def _longest_run(flags: np.ndarray) -> int:
    """Length of the longest run of True."""
    if not flags.any():
        return 0
    edges = np.diff(flags.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def _cagr(growth: float, years_inverse: float) -> float:
    """``growth ** (P / n) - 1``; NaN (reported null) when ruined or beyond float range."""
    if growth <= 0:
        return math.nan
    exponent = math.log(growth) * years_inverse
    return math.expm1(exponent) if exponent < 700 else math.nan


def _streaks(wins: np.ndarray) -> tuple[int, int]:
    """Longest runs of winning and of losing trades."""
    return _longest_run(wins), _longest_run(~wins)


def compute_metrics(
    equity: FloatArray,
    capital: float,
    bar_ms: int,
    *,
    risk_free_rate: float = 0.0,
    trade_pnl: FloatArray | None = None,
    trade_return: FloatArray | None = None,
    open_trades: int = 0,
    exposed: FloatArray | None = None,
    traded_notional: float = 0.0,
    fees_paid: float = 0.0,
    drawdown: FloatArray | None = None,
) -> Metrics:
    """All metrics; formulas:

    - total_return = E_{n-1} / C - 1
    - cagr = (E_{n-1} / C) ** (P / n) - 1  (null when E_{n-1} <= 0 or beyond float range)
    - annual_volatility = std(r, ddof=1) * sqrt(P)  (null for n < 2)
    - sharpe = (mean(r) - rf_p) / std(r, ddof=1) * sqrt(P)  (null when std is 0)
    - sortino = (mean(r) - rf_p) / sqrt(mean(min(r - rf_p, 0)^2)) * sqrt(P)
      (null when there is no downside)
    - max_drawdown = max_t (1 - E_t / running peak), the peak starting at C; its duration is
      the longest run of bars below a previous peak
    - calmar = cagr / max_drawdown  (null when max_drawdown is 0)
    - win_rate = wins / closed trades (a win has pnl > 0)
    - profit_factor = sum(winning pnl) / |sum(losing pnl)|  (null without losses)
    - expectancy = mean(pnl); average_win / average_loss = mean pnl of wins / of losses
    - best_trade / worst_trade = max / min trade return (pnl / entry cost incl. fee)
    - max_consecutive_wins / losses over closed trades in exit order
    - exposure = share of bars with a position held at the close
    - turnover = traded notional (both sides) / mean equity
    - var_95 = -q_5%(r) (historical, linear interpolation); cvar_95 = -mean(r | r <= q_5%(r))
    - trade_count = closed trades; open_trades counted apart
    """
    n = int(equity.size)
    if n == 0:
        return Metrics(bars=0, fees_paid=fees_paid, final_equity=capital)
    ppy = periods_per_year(bar_ms)
    r = bar_returns(equity, capital)
    final = float(equity[-1])
    total = final / capital - 1.0
    cagr = _cagr(final / capital, ppy / n)
    rf_p = risk_free_rate / ppy
    std = float(np.std(r, ddof=1)) if n >= 2 else math.nan
    vol = std * math.sqrt(ppy)
    excess = float(np.mean(r)) - rf_p
    sharpe = excess / std * math.sqrt(ppy) if std > 0 else math.nan
    downside = float(np.sqrt(np.mean(np.minimum(r - rf_p, 0.0) ** 2)))
    sortino = excess / downside * math.sqrt(ppy) if downside > 0 else math.nan
    mdd, mdd_bars = drawdown_stats(equity, capital, drawdown)
    calmar = cagr / mdd if mdd > 0 else math.nan
    q = float(np.quantile(r, 0.05))
    var95 = -q
    cvar95 = -float(np.mean(r[r <= q]))

    pnl = trade_pnl if trade_pnl is not None else np.zeros(0)
    ret = trade_return if trade_return is not None else np.zeros(0)
    count = int(pnl.size)
    wins = pnl[pnl > 0]
    losses = pnl[pnl < 0]
    streak_w, streak_l = _streaks(pnl > 0) if count else (0, 0)
    mean_equity = float(np.mean(equity))
    return Metrics(
        total_return=_num(total),
        cagr=_num(cagr),
        annual_volatility=_num(vol),
        sharpe=_num(sharpe),
        sortino=_num(sortino),
        calmar=_num(calmar),
        max_drawdown=_num(mdd),
        max_drawdown_duration_bars=mdd_bars,
        win_rate=_num(wins.size / count) if count else None,
        profit_factor=_num(float(wins.sum()) / -float(losses.sum())) if losses.size else None,
        expectancy=_num(float(pnl.mean())) if count else None,
        average_win=_num(float(wins.mean())) if wins.size else None,
        average_loss=_num(float(losses.mean())) if losses.size else None,
        best_trade=_num(float(ret.max())) if ret.size else None,
        worst_trade=_num(float(ret.min())) if ret.size else None,
        max_consecutive_wins=streak_w,
        max_consecutive_losses=streak_l,
        exposure=_num(float(np.mean(exposed != 0))) if exposed is not None else None,
        turnover=_num(traded_notional / mean_equity) if mean_equity > 0 else None,
        fees_paid=float(fees_paid),
        var_95=_num(var95),
        cvar_95=_num(cvar95),
        trade_count=count,
        open_trades=open_trades,
        final_equity=_num(final),
        bars=n,
    )
