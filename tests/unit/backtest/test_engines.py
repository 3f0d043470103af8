"""Fills, fees and the two single-series engines, by hand and by property."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbx.domain.backtest.costs import FeeSchedule, SlippageModel
from arbx.domain.backtest.events import run_events
from arbx.domain.backtest.execution import BarArrays, Execution
from arbx.domain.backtest.kernels import sma
from arbx.domain.backtest.sizing import Sizing
from arbx.domain.backtest.vectorized import run_grid, run_vectorized
from arbx.domain.strategies import STRATEGIES
from tests.strategies import bar_series
from tests.unit.backtest.helpers import arrays, from_frame

OPEN = [100.0, 100.0, 110.0, 120.0, 120.0]
CLOSE = [100.0, 105.0, 115.0, 120.0, 121.0]
TARGET = np.array([1.0, 1.0, 0.0, 0.0, 0.0])
ENGINES = [
    lambda b, t, ex: run_vectorized(b, t, ex),
    lambda b, t, ex: run_events(b, ex, target=t),
]


@pytest.mark.parametrize("engine", ENGINES, ids=["vectorized", "event"])
def test_next_open_fills_and_fees_by_hand(engine) -> None:  # type: ignore[no-untyped-def]
    bars = arrays(OPEN, CLOSE)
    ex = Execution(capital=1000.0, fees=FeeSchedule(taker_bps=10.0))
    result = engine(bars, TARGET, ex)
    q = 1000.0 / (100.0 * 1.001)
    cash_after = q * 120.0 * (1 - 0.001)
    assert result.curve["equity"].to_list() == pytest.approx(
        [1000.0, q * 105.0, q * 115.0, cash_after, cash_after], rel=1e-12
    )
    fills = result.fills
    assert fills["bar"].to_list() == [1, 3]
    assert fills["side"].to_list() == ["buy", "sell"]
    assert fills["price"].to_list() == pytest.approx([100.0, 120.0])
    assert fills["fee"].to_list() == pytest.approx([q * 100 * 0.001, q * 120 * 0.001])
    trade = result.trades.row(0, named=True)
    assert trade["qty"] == pytest.approx(q)
    assert trade["pnl"] == pytest.approx(cash_after - 1000.0)
    assert result.metrics.fees_paid == pytest.approx(q * 220 * 0.001)
    assert result.metrics.trade_count == 1
    assert not result.optimistic


@pytest.mark.parametrize("engine", ENGINES, ids=["vectorized", "event"])
def test_close_fills_are_flagged_optimistic(engine) -> None:  # type: ignore[no-untyped-def]
    bars = arrays(OPEN, CLOSE)
    ex = Execution(
        capital=1000.0,
        fees=FeeSchedule(taker_bps=10.0),
        slippage=SlippageModel("fixed", bps=10.0),
        fill="close",
    )
    result = engine(bars, TARGET, ex)
    pe = 100.0 * 1.001
    q = 1000.0 / (pe * 1.001)
    px = 115.0 * 0.999
    assert result.fills["bar"].to_list() == [0, 2]
    assert result.fills["price"].to_list() == pytest.approx([pe, px])
    assert result.curve["equity"][2] == pytest.approx(q * px * 0.999)
    assert result.optimistic
    assert result.notes


@pytest.mark.parametrize("engine", ENGINES, ids=["vectorized", "event"])
def test_lot_rounding_and_fixed_notional(engine) -> None:  # type: ignore[no-untyped-def]
    bars = arrays(OPEN, CLOSE)
    ex = Execution(capital=1000.0, lot_size=0.5, sizing=Sizing("fixed_notional", notional=333.0))
    result = engine(bars, TARGET, ex)
    assert result.trades["qty"].to_list() == [3.0]  # 3.33 rounded down to 0.5 lots
    assert result.curve["cash"][1] == pytest.approx(1000.0 - 300.0)
    assert result.curve["equity"][-1] == pytest.approx(700.0 + 3 * 120.0)


def test_last_bar_decision_cannot_fill_next_open_and_open_trade_is_reported() -> None:
    bars = arrays([100.0, 101.0, 102.0], [100.0, 101.0, 103.0])
    result = run_vectorized(bars, np.array([0.0, 1.0, 1.0]), Execution(capital=100.0))
    assert result.trades["is_open"].to_list() == [True]
    assert result.metrics.open_trades == 1
    assert result.metrics.trade_count == 0
    none = run_vectorized(bars, np.array([0.0, 0.0, 1.0]), Execution(capital=100.0))
    assert none.trades.height == 0
    assert none.curve["equity"].to_list() == [100.0, 100.0, 100.0]


def _target(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random(n) < 0.5).astype(np.float64)


executions = st.builds(
    Execution,
    capital=st.floats(100.0, 1e6),
    fees=st.builds(FeeSchedule, maker_bps=st.floats(0, 50), taker_bps=st.floats(0, 50)),
    slippage=st.sampled_from(
        [SlippageModel(), SlippageModel("fixed", bps=3.0), SlippageModel("volume_share", k_bps=30)]
    ),
    sizing=st.sampled_from(
        [
            Sizing(),
            Sizing(fraction=0.3),
            Sizing("vol_target", lookback=5, target_vol=0.5),
            Sizing("fixed_notional", notional=500.0),
        ]
    ),
    fill=st.sampled_from(["next_open", "close"]),
    lot_size=st.sampled_from([0.0, 0.001]),
)
PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(frame=bar_series(min_size=2, max_size=200), seed=st.integers(0, 10_000), ex=executions)
def test_vectorized_equals_event_driven(frame, seed, ex) -> None:  # type: ignore[no-untyped-def]
    bars = from_frame(frame)
    target = _target(bars.n, seed)
    a = run_vectorized(bars, target, ex)
    b = run_events(bars, ex, target=target)
    assert a.trades.height == b.trades.height
    assert a.trades["entry_bar"].to_list() == b.trades["entry_bar"].to_list()
    assert a.trades["exit_bar"].to_list() == b.trades["exit_bar"].to_list()
    np.testing.assert_allclose(a.trades["qty"].to_numpy(), b.trades["qty"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(
        a.curve["equity"].to_numpy(), b.curve["equity"].to_numpy(), rtol=1e-9
    )


@PROPS
@given(frame=bar_series(min_size=2, max_size=200), seed=st.integers(0, 10_000), ex=executions)
def test_cash_plus_marked_position_is_equity(frame, seed, ex) -> None:  # type: ignore[no-untyped-def]
    bars = from_frame(frame)
    for result in (
        run_vectorized(bars, _target(bars.n, seed), ex),
        run_events(bars, ex, target=_target(bars.n, seed)),
    ):
        c = result.curve
        np.testing.assert_allclose(
            (c["cash"] + c["position"] * bars.close).to_numpy(),
            c["equity"].to_numpy(),
            rtol=1e-12,
        )
        assert (c["cash"].to_numpy() >= -1e-9 * ex.capital).all()
        assert (c["position"].to_numpy() >= 0).all()


@PROPS
@given(n=st.integers(2, 50), price=st.floats(0.01, 1e5), k=st.integers(0, 40))
def test_zero_fee_round_trip_at_one_price_keeps_equity(n: int, price: float, k: int) -> None:
    bars = arrays([price] * n)
    target = _target(n, k)
    for fill in ("next_open", "close"):
        ex = Execution(capital=1234.5, fill=fill)
        for result in (run_vectorized(bars, target, ex), run_events(bars, ex, target=target)):
            np.testing.assert_allclose(result.curve["equity"].to_numpy(), 1234.5, rtol=1e-12)


@PROPS
@given(
    frame=bar_series(min_size=2, max_size=150),
    seed=st.integers(0, 1000),
    low=st.floats(0, 30),
    extra=st.floats(0, 30),
    fill=st.sampled_from(["next_open", "close"]),
)
def test_higher_fees_never_raise_final_equity(frame, seed, low, extra, fill) -> None:  # type: ignore[no-untyped-def]
    bars = from_frame(frame)
    target = _target(bars.n, seed)
    cheap = Execution(fees=FeeSchedule(taker_bps=low), fill=fill)
    dear = Execution(fees=FeeSchedule(taker_bps=low + extra), fill=fill)
    assert run_vectorized(bars, target, dear).final_equity <= run_vectorized(
        bars, target, cheap
    ).final_equity * (1 + 1e-12)
    assert run_events(bars, dear, target=target).final_equity <= run_events(
        bars, cheap, target=target
    ).final_equity * (1 + 1e-12)


SIGNAL_PARAMS = {
    "buy_and_hold": {},
    "sma_cross": {"fast": 3, "slow": 8},
    "ema_cross": {"fast": 3, "slow": 8},
    "mean_reversion": {"window": 6, "z_entry": 1.0, "z_exit": 0.0},
    "momentum": {"window": 4},
    "rsi": {"period": 5, "oversold": 40, "overbought": 60},
}


@settings(max_examples=25, deadline=None)
@given(
    frame=bar_series(min_size=20, max_size=120),
    cut=st.integers(1, 19),
    seed=st.integers(0, 2**31),
    fill=st.sampled_from(["next_open", "close"]),
)
def test_no_look_ahead(frame, cut: int, seed: int, fill: str) -> None:  # type: ignore[no-untyped-def]
    """Changing any bar after t changes no decision and no fill at or before t."""
    bars = from_frame(frame)
    t = bars.n - 1 - cut
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.normal(0, 0.2, bars.n - t - 1))
    changed = BarArrays(
        bars.ts,
        bars.open.copy(),
        bars.high.copy(),
        bars.low.copy(),
        bars.close.copy(),
        bars.volume.copy(),
        bars.bar_ms,
    )
    for col in (changed.open, changed.high, changed.low, changed.close):
        col[t + 1 :] *= scale
    changed.volume[t + 1 :] = rng.gamma(2.0, 5.0, bars.n - t - 1)
    ex = Execution(fill=fill, fees=FeeSchedule(taker_bps=5))
    last_fill = t if fill == "close" else t + 1
    for name, params in SIGNAL_PARAMS.items():
        strategy = STRATEGIES[name]
        assert strategy.target is not None
        typed = strategy.params(**params)
        a, b = strategy.target(bars, typed), strategy.target(changed, typed)
        np.testing.assert_array_equal(a[: t + 1], b[: t + 1], err_msg=name)
        for run in (
            lambda x, y: run_vectorized(x, y, ex),
            lambda x, y: run_events(x, ex, target=y),
        ):
            fa, fb = run(bars, a).fills, run(changed, b).fills
            early_a = fa.filter(fa["bar"] < last_fill).select("bar", "side", "qty")
            early_b = fb.filter(fb["bar"] < last_fill).select("bar", "side", "qty")
            assert early_a.equals(early_b), name


def test_grid_matches_single_runs() -> None:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 600)))
    bars = arrays(list(np.concatenate(([100.0], close[:-1]))), list(close))
    sma_type = STRATEGIES["sma_cross"]
    assert sma_type.grid is not None
    assert sma_type.target is not None
    params = [sma_type.params(fast=f, slow=s) for f in (3, 5, 8) for s in (13, 21)]
    ex = Execution(fees=FeeSchedule(taker_bps=10))
    grid = run_grid(bars, sma_type.grid(bars, params), ex, keep_curves=True)
    fast = run_grid(bars, sma_type.grid(bars, params), ex)
    np.testing.assert_allclose(fast.final_equity, grid.final_equity, rtol=1e-9)
    np.testing.assert_array_equal(fast.trade_count, grid.trade_count)
    for row, p in enumerate(params):
        single = run_vectorized(bars, sma_type.target(bars, p), ex)
        assert grid.final_equity[row] == pytest.approx(single.final_equity, rel=1e-12)
        assert grid.trade_count[row] == single.trades.height
        assert grid.equity is not None
        np.testing.assert_allclose(grid.equity[row], single.curve["equity"].to_numpy())
    assert (sma(bars.close, 5)[4:] > 0).all()


@PROPS
@given(frame=bar_series(min_size=1, max_size=120), seed=st.integers(0, 10_000), ex=executions)
def test_grid_fast_path_equals_row_by_row(frame, seed, ex) -> None:  # type: ignore[no-untyped-def]
    bars = from_frame(frame)
    targets = np.stack([_target(bars.n, seed + k) for k in range(4)])
    fast = run_grid(bars, targets, ex)
    slow = run_grid(bars, targets, ex, keep_curves=True)
    np.testing.assert_allclose(fast.final_equity, slow.final_equity, rtol=1e-9)
    np.testing.assert_array_equal(fast.trade_count, slow.trade_count)
