"""Annualization on calendar time, the short-span flag, and a tail risk that float noise
cannot move."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.backtest.execution import BarArrays, Execution
from arbx.domain.backtest.metrics import YEAR_MS, compute_metrics, tail_risk
from arbx.domain.backtest.vectorized import run_vectorized

MINUTE = 60_000
DAY = 86_400_000
T0 = 1_678_060_800_000  # 2023-03-06


def _gappy_ts(bars: int, minutes: int, seed: int = 0) -> np.ndarray:
    """``bars`` distinct minute opens spread over ``minutes`` minutes, first and last kept
    (a venue that prints no bar in a minute without trades)."""
    rng = np.random.default_rng(seed)
    inner = rng.choice(np.arange(1, minutes - 1), size=bars - 2, replace=False)
    return T0 + np.sort(np.concatenate(([0, minutes - 1], inner))).astype(np.int64) * MINUTE


def test_cagr_and_volatility_use_elapsed_calendar_time_on_a_gappy_series() -> None:
    # the Kraken case: 15,719 one-minute bars in 30,240 minutes (21 days)
    ts = _gappy_ts(15_719, 30_240)
    rng = np.random.default_rng(1)
    equity = 10_000 * np.exp(np.cumsum(rng.normal(2e-5, 1e-3, ts.size)))
    m = compute_metrics(equity, 10_000.0, MINUTE, ts=ts)
    years = 30_240 * MINUTE / YEAR_MS
    growth = equity[-1] / 10_000.0
    assert m.cagr == pytest.approx(growth ** (1 / years) - 1, rel=1e-9)
    r = np.diff(np.concatenate(([10_000.0], equity))) / np.concatenate(([10_000.0], equity[:-1]))
    per_year = ts.size / years
    assert m.bars_per_year == pytest.approx(per_year)
    assert m.annual_volatility == pytest.approx(np.std(r, ddof=1) * math.sqrt(per_year))
    assert m.sharpe == pytest.approx(r.mean() / np.std(r, ddof=1) * math.sqrt(per_year))
    assert m.calmar == pytest.approx(m.cagr / m.max_drawdown)
    assert m.span_days == pytest.approx(21.0)
    assert m.short_span  # 21 days: annualized, but flagged


def test_without_ts_the_bars_are_taken_as_gap_free() -> None:
    equity = np.array([110.0, 99.0, 108.9, 108.9])
    m = compute_metrics(equity, 100.0, DAY)
    assert m.cagr == pytest.approx(1.089 ** (365 / 4) - 1)
    assert m.span_days == 4.0
    assert m.bars_per_year == pytest.approx(365.0)
    contiguous = compute_metrics(equity, 100.0, DAY, ts=T0 + np.arange(4, dtype=np.int64) * DAY)
    assert contiguous == m


def test_short_span_flag_is_under_thirty_days() -> None:
    flat = np.full(10, 100.0)
    assert compute_metrics(flat, 100.0, DAY).short_span
    month = compute_metrics(np.full(30, 100.0), 100.0, DAY)
    assert not month.short_span
    assert month.span_days == 30.0
    # 31 daily bars spread over 60 days: the calendar, not the count, decides
    sparse = compute_metrics(np.full(2, 100.0), 100.0, DAY, ts=np.array([T0, T0 + 59 * DAY]))
    assert not sparse.short_span
    assert sparse.span_days == 60.0


def test_the_engines_pass_the_bars_timestamps() -> None:
    ts = _gappy_ts(2_000, 6_000, seed=3)
    rng = np.random.default_rng(4)
    close = 100 * np.exp(np.cumsum(rng.normal(1e-4, 1e-3, ts.size)))
    open_ = np.concatenate(([100.0], close[:-1]))
    bars = BarArrays(ts, open_, np.maximum(open_, close), np.minimum(open_, close), close,
                     np.ones(ts.size), MINUTE)  # fmt: skip
    result = run_vectorized(bars, np.ones(ts.size), Execution(capital=1_000.0))
    growth = result.final_equity / 1_000.0
    assert result.metrics.cagr == pytest.approx(growth ** (YEAR_MS / (6_000 * MINUTE)) - 1)
    assert result.metrics.span_days == pytest.approx(6_000 / 1440)


def test_var_and_cvar_are_order_statistics_of_a_fixed_count() -> None:
    r = np.array([0.0] * 20 + [-0.05, -0.01] + [0.0] * 10 + [0.02] * 8)  # n = 40, k = 2
    var, cvar = tail_risk(r)
    assert var == 0.01  # the 2nd worst
    assert cvar == pytest.approx(0.03)  # the mean of the two worst
    # n = 60, k = 3: the third worst is one of 30 tied zeros; which one does not matter
    var, cvar = tail_risk(np.concatenate((r, [0.01] * 20)))
    assert var == 0.0
    assert cvar == pytest.approx(0.02)


def test_no_negative_zero_tail_risk() -> None:
    m = compute_metrics(np.full(100, 100.0), 100.0, MINUTE)
    rising = compute_metrics(100.0 * 1.001 ** np.arange(1, 101), 100.0, MINUTE)
    assert m.var_95 == 0.0
    assert m.cvar_95 == 0.0
    for value in (m.var_95, m.cvar_95):
        assert value is not None
        assert math.copysign(1.0, value) == 1.0
    assert rising.var_95 is not None
    assert rising.var_95 < 0  # the worst bar is a gain: a negative loss, honestly signed


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    flat=st.floats(0.5, 0.97),
    n=st.integers(40, 400),
)
def test_float_noise_does_not_jump_cvar(seed: int, flat: float, n: int) -> None:
    """Most minutes of a strategy are flat (return exactly 0). Noise of 1e-15 used to
    decide which of the tied zeros entered the tail and moved CVaR by orders of magnitude
    more than the noise."""
    rng = np.random.default_rng(seed)
    r = np.where(rng.random(n) < flat, 0.0, rng.normal(0.0, 0.01, n))
    equity = 1_000.0 * np.cumprod(1.0 + r)
    noisy = equity * (1.0 + rng.uniform(-1e-15, 1e-15, n))
    a = compute_metrics(equity, 1_000.0, MINUTE)
    b = compute_metrics(noisy, 1_000.0, MINUTE)
    assert a.cvar_95 is not None
    assert b.cvar_95 is not None
    assert a.var_95 is not None
    assert b.var_95 is not None
    assert abs(a.cvar_95 - b.cvar_95) < 1e-12
    assert abs(a.var_95 - b.var_95) < 1e-12
