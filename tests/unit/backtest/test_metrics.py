from __future__ import annotations

import math

import numpy as np
import pytest

from arbx.domain.backtest.metrics import compute_metrics, drawdown_stats, periods_per_year

DAY = 86_400_000


def test_annualization_uses_a_365_day_year() -> None:
    assert periods_per_year(DAY) == 365.0
    assert periods_per_year(60_000) == 365 * 1440


def test_hand_computed_curve_metrics() -> None:
    equity = np.array([110.0, 99.0, 108.9, 108.9])
    m = compute_metrics(equity, 100.0, DAY, risk_free_rate=0.0365)
    r = np.array([0.1, -0.1, 0.1, 0.0])
    assert m.total_return == pytest.approx(0.089)
    assert m.cagr == pytest.approx(1.089 ** (365 / 4) - 1)
    std = np.std(r, ddof=1)
    assert m.annual_volatility == pytest.approx(std * math.sqrt(365))
    rf = 0.0365 / 365
    assert m.sharpe == pytest.approx((r.mean() - rf) / std * math.sqrt(365))
    down = math.sqrt(np.mean(np.minimum(r - rf, 0) ** 2))
    assert m.sortino == pytest.approx((r.mean() - rf) / down * math.sqrt(365))
    assert m.max_drawdown == pytest.approx(0.1)  # 110 -> 99
    assert m.max_drawdown_duration_bars == 3  # bars 1, 2, 3 below the 110 peak
    assert m.calmar == pytest.approx(m.cagr / 0.1)
    # k = ceil(0.05 * 4) = 1: VaR and CVaR are both the single worst return
    assert m.var_95 == pytest.approx(0.1)
    assert m.cvar_95 == pytest.approx(0.1)
    assert m.final_equity == pytest.approx(108.9)
    assert m.bars == 4


def test_hand_computed_trade_metrics() -> None:
    pnl = np.array([10.0, -5.0, -5.0, 20.0, 30.0, -10.0])
    ret = np.array([0.1, -0.05, -0.05, 0.2, 0.3, -0.1])
    m = compute_metrics(
        np.array([100.0, 101.0]),
        100.0,
        DAY,
        trade_pnl=pnl,
        trade_return=ret,
        open_trades=1,
        exposed=np.array([0.0, 2.0]),
        traded_notional=201.0,
        fees_paid=1.5,
    )
    assert m.trade_count == 6
    assert m.open_trades == 1
    assert m.win_rate == pytest.approx(0.5)
    assert m.profit_factor == pytest.approx(60 / 20)
    assert m.expectancy == pytest.approx(40 / 6)
    assert m.average_win == pytest.approx(20.0)
    assert m.average_loss == pytest.approx(-20 / 3)
    assert m.best_trade == pytest.approx(0.3)
    assert m.worst_trade == pytest.approx(-0.1)
    assert m.max_consecutive_wins == 2
    assert m.max_consecutive_losses == 2
    assert m.exposure == pytest.approx(0.5)
    assert m.turnover == pytest.approx(201.0 / 100.5)
    assert m.fees_paid == 1.5


def test_degenerate_cases_give_null_not_nan() -> None:
    flat = compute_metrics(np.full(10, 100.0), 100.0, DAY)
    assert flat.total_return == 0.0
    assert flat.sharpe is None
    assert flat.sortino is None
    assert flat.calmar is None
    assert flat.win_rate is None
    assert flat.profit_factor is None
    assert flat.expectancy is None
    assert flat.best_trade is None
    assert flat.trade_count == 0
    assert flat.max_drawdown == 0.0
    assert flat.max_drawdown_duration_bars == 0
    one = compute_metrics(np.array([101.0]), 100.0, DAY)
    assert one.annual_volatility is None
    assert one.sharpe is None
    empty = compute_metrics(np.zeros(0), 100.0, DAY)
    assert empty.bars == 0
    assert empty.total_return is None
    ruined = compute_metrics(np.array([50.0, 0.0]), 100.0, DAY)
    assert ruined.cagr is None
    wins_only = compute_metrics(
        np.array([100.0, 110.0]),
        100.0,
        DAY,
        trade_pnl=np.array([10.0]),
        trade_return=np.array([0.1]),
    )
    assert wins_only.profit_factor is None
    assert wins_only.average_loss is None
    for m in (flat, one, empty, ruined, wins_only):
        for value in (getattr(m, f) for f in m.__struct_fields__):
            assert value is None or math.isfinite(value)


def test_drawdown_duration_counts_until_recovery() -> None:
    depth, bars = drawdown_stats(np.array([100.0, 90.0, 95.0, 101.0, 80.0]), 100.0)
    assert depth == pytest.approx(1 - 80 / 101)
    assert bars == 2
