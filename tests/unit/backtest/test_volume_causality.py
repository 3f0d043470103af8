"""Volume-dependent costs read the volume known at the decision, never the fill bar's."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.backtest.costs import FeeSchedule, SlippageModel
from arbx.domain.backtest.events import RiskRules, run_events
from arbx.domain.backtest.execution import BarArrays, Execution
from arbx.domain.backtest.vectorized import run_vectorized
from tests.strategies import bar_series
from tests.unit.backtest.helpers import arrays, from_frame

IMPACT = SlippageModel("volume_share", k_bps=50.0)


def _with_volume(bars: BarArrays, volume: np.ndarray) -> BarArrays:
    return BarArrays(
        bars.ts, bars.open, bars.high, bars.low, bars.close, volume, bars.bar_ms, bars.venue
    )


@pytest.mark.parametrize("window", [1, 3])
def test_a_next_open_fill_prices_impact_on_the_decision_bars_volume(window: int) -> None:
    volume = [4.0, 8.0, 1e9, 2.0]  # bar 2, the fill bar, trades a fortune: unknown at bar 1
    bars = arrays([100.0] * 4, volume=volume)
    target = np.array([0.0, 1.0, 1.0, 1.0])  # decided at the close of 1, filled at the open of 2
    ex = Execution(capital=1_000.0, slippage=IMPACT, volume_window=window)
    known = np.mean(volume[max(0, 2 - window) : 2])  # bars up to the decision bar
    q0 = 1_000.0 / 100.0
    price = 100.0 * (1 + 50e-4 * math.sqrt(min(q0 / known, 1.0)))
    for result in (run_vectorized(bars, target, ex), run_events(bars, ex, target=target)):
        assert result.fills["bar"].to_list() == [2]
        assert result.fills["price"][0] == pytest.approx(price, rel=1e-12)


def test_max_volume_share_caps_a_fill_by_the_known_volume() -> None:
    bars = arrays([100.0] * 4, volume=[0.5, 0.5, 1e9, 0.5])
    ex = Execution(capital=1_000.0, volume_window=2)
    rules = RiskRules(max_volume_share=1.0)
    result = run_events(bars, ex, target=np.array([0.0, 1.0, 1.0, 1.0]), risk=rules)
    # 10 BTC wanted; bar 2 may take the known 0.5 (not its own 1e9), bar 3 the next 0.5
    # (the mean of bars 1 and 2 is 5e8: known by then, so the rest fills)
    assert result.fills["qty"].to_list() == pytest.approx([0.5, 1_000.0 / 100.0 - 0.5])


@settings(max_examples=40, deadline=None)
@given(
    frame=bar_series(min_size=10, max_size=120),
    cut=st.integers(1, 9),
    seed=st.integers(0, 2**31),
    fill=st.sampled_from(["next_open", "close"]),
    spike=st.booleans(),
)
def test_volume_after_the_decision_bar_changes_no_fill_up_to_it(  # type: ignore[no-untyped-def]
    frame, cut, seed, fill, spike
) -> None:
    """Perturb every volume after bar t (random, or a spike/drought of 1e6x): every fill
    decided at or before t -- at t+1 for next_open, at t for close -- keeps its bar,
    quantity and price, in both engines."""
    bars = from_frame(frame)
    t = bars.n - 1 - cut
    rng = np.random.default_rng(seed)
    volume = bars.volume.copy()
    if spike:
        volume[t + 1 :] *= rng.choice([1e-6, 1e6], size=bars.n - t - 1)
    else:
        volume[t + 1 :] = rng.gamma(2.0, 5.0, bars.n - t - 1)
    changed = _with_volume(bars, volume)
    target = (rng.random(bars.n) < 0.5).astype(np.float64)
    ex = Execution(fill=fill, fees=FeeSchedule(taker_bps=5), slippage=IMPACT, lot_size=0.001)
    last_fill = t if fill == "close" else t + 1
    runs = [
        lambda b: run_vectorized(b, target, ex),
        lambda b: run_events(b, ex, target=target),
        lambda b: run_events(b, ex, target=target, risk=RiskRules(max_volume_share=0.05)),
    ]
    for go in runs:
        fa, fb = go(bars).fills, go(changed).fills
        early_a = fa.filter(fa["bar"] <= last_fill).select("bar", "side", "qty", "price")
        early_b = fb.filter(fb["bar"] <= last_fill).select("bar", "side", "qty", "price")
        assert early_a.equals(early_b)
