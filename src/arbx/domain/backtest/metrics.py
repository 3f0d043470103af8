"""Performance metrics from an equity curve marked at each bar close and a trade list.

Notation: ``C`` initial capital, ``E_t`` equity at the close of bar t (t = 0..n-1),
``r_t = E_t / E_{t-1} - 1`` with ``E_{-1} = C``. Time is calendar time: the span runs from
the first bar's open to the last bar's close, ``T = ts_{n-1} - ts_0 + timeframe``, and
``Y = T / 365 days`` is its length in years (crypto trades 365 x 24h). ``P = n / Y`` is the
number of bars per year actually observed: on a gap-free series it is
``365 days / timeframe``; on a venue that omits quiet minutes it is smaller, because each
observed return then spans more than one timeframe. ``rf`` is the annual risk-free rate
and ``rf_p = rf / P`` its per-bar share.
Degenerate cases (no bars, no trades, zero volatility, no losses...) give ``None`` (JSON
null), never NaN or infinity.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from arbx.domain.backtest.kernels import FloatArray, IntArray

YEAR_MS = 365 * 86_400_000
DAY_MS = 86_400_000
SHORT_SPAN_DAYS = 30.0
VAR_ALPHA = 0.05


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
    span_days: float | None = None
    bars_per_year: float | None = None
    short_span: bool = False
    skipped_min_notional: int = 0


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
    """``growth ** (1 / Y) - 1``; NaN (reported null) when ruined or beyond float range."""
    if growth <= 0:
        return math.nan
    exponent = math.log(growth) * years_inverse
    return math.expm1(exponent) if exponent < 700 else math.nan


def span_ms(n: int, bar_ms: int, ts: IntArray | None = None) -> int:
    """Calendar length of ``n`` bars: first open to last close (``n * bar_ms`` without ts)."""
    if ts is None or ts.size == 0:
        return n * bar_ms
    return int(ts[-1]) - int(ts[0]) + bar_ms


def tail_risk(r: FloatArray, alpha: float = VAR_ALPHA) -> tuple[float, float]:
    """Historical VaR and CVaR at level ``alpha``, as positive losses.

    With ``k = ceil(alpha * n)`` (at least 1) and ``r_(1) <= ... <= r_(n)`` the sorted
    returns: ``VaR = -r_(k)``, the k-th worst return, and ``CVaR = -mean(r_(1..k))``, the
    mean of the k worst. Both are order statistics of a fixed count, so returns tied at
    the quantile cannot change how many enter the tail: a perturbation of size e moves
    either by at most e. A zero loss is reported as 0.0, never -0.0.
    """
    n = int(r.size)
    k = max(1, math.ceil(alpha * n - 1e-9))
    worst = np.partition(r, k - 1)[:k]
    var = -float(worst.max()) + 0.0
    cvar = -float(np.mean(worst)) + 0.0
    return var, cvar


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
    ts: IntArray | None = None,
    skipped_min_notional: int = 0,
) -> Metrics:
    """All metrics; ``ts`` (epoch ms of each bar's open) gives the calendar span, else the
    bars are taken as gap-free (``T = n * bar_ms``). Formulas:

    - total_return = E_{n-1} / C - 1
    - cagr = (E_{n-1} / C) ** (1 / Y) - 1  (null when E_{n-1} <= 0 or beyond float range)
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
    - var_95 = -r_(k), cvar_95 = -mean(r_(1..k)) with k = ceil(0.05 n): the k-th worst
      return and the mean of the k worst (``tail_risk``)
    - trade_count = closed trades; open_trades counted apart
    - span_days = T in days; bars_per_year = P; short_span = T < 30 days (annualized
      figures of a short span are extrapolations: shown, but flagged)
    - skipped_min_notional = entries not opened because they were below the venue's
      minimum notional (counted by the engine)
    """
    n = int(equity.size)
    if n == 0:
        return Metrics(
            bars=0,
            fees_paid=fees_paid,
            final_equity=capital,
            skipped_min_notional=skipped_min_notional,
        )
    elapsed = span_ms(n, bar_ms, ts)
    years = elapsed / YEAR_MS
    ppy = n / years
    r = bar_returns(equity, capital)
    final = float(equity[-1])
    total = final / capital - 1.0
    cagr = _cagr(final / capital, 1.0 / years)
    rf_p = risk_free_rate / ppy
    std = float(np.std(r, ddof=1)) if n >= 2 else math.nan
    vol = std * math.sqrt(ppy)
    excess = float(np.mean(r)) - rf_p
    sharpe = excess / std * math.sqrt(ppy) if std > 0 else math.nan
    downside = float(np.sqrt(np.mean(np.minimum(r - rf_p, 0.0) ** 2)))
    sortino = excess / downside * math.sqrt(ppy) if downside > 0 else math.nan
    mdd, mdd_bars = drawdown_stats(equity, capital, drawdown)
    calmar = cagr / mdd if mdd > 0 else math.nan
    var95, cvar95 = tail_risk(r)

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
        span_days=_num(elapsed / DAY_MS),
        bars_per_year=_num(ppy),
        short_span=elapsed < SHORT_SPAN_DAYS * DAY_MS,
        skipped_min_notional=skipped_min_notional,
    )
