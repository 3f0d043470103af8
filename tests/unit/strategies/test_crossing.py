"""SMA/EMA crosses are events (the order of the two lines changes), ties are no cross,
and exact decimal ties stay exact."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.backtest.events import run_events
from arbx.domain.backtest.execution import Execution
from arbx.domain.backtest.kernels import cross_hold, ema, sma
from arbx.domain.backtest.vectorized import run_vectorized
from arbx.domain.strategies import STRATEGIES
from tests.unit.backtest.helpers import arrays

CROSSES = ["sma_cross", "ema_cross"]


def _target(name: str, prices: list[float], **params: object) -> list[float]:
    strategy = STRATEGIES[name]
    assert strategy.target is not None
    target: list[float] = strategy.target(arrays(prices), strategy.params(**params)).tolist()
    return target


@pytest.mark.parametrize("name", CROSSES)
def test_fast_already_above_at_warm_up_is_no_entry(name: str) -> None:
    rising = [100.0 + i for i in range(30)]
    assert _target(name, rising, fast=3, slow=8) == [0.0] * 30
    # the state variant, kept as an explicit choice, is long from the warm-up on
    state = _target(name, rising, fast=3, slow=8, entry="state")
    assert state[7:] == [1.0] * 23


@pytest.mark.parametrize(("name", "up", "down"), [("sma_cross", 12, 22), ("ema_cross", 13, 23)])
def test_entry_on_the_crossing_bar_and_exit_on_the_cross_below(
    name: str, up: int, down: int
) -> None:
    # down to 1, up to 11, down again: SMA(3) - SMA(6) turns positive at bar 12
    # ((2 + 3 + 4) / 3 = 3 > (3 + 2 + 1 + 2 + 3 + 4) / 6 = 2.5) and negative at bar 22
    prices = [10.0 - i for i in range(10)] + [2.0 + i for i in range(10)]
    prices += [10.0 - i for i in range(8)]
    target = _target(name, prices, fast=3, slow=6)
    assert target == [1.0 if up <= t < down else 0.0 for t in range(len(prices))]


def test_ties_neither_cross_nor_end_a_position() -> None:
    nan = np.nan
    slow = np.array([nan, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0])
    # warm-up, below, tie, above (cross), tie (holds), above, tie, below (cross below), tie, above
    fast = np.array([nan, 4.0, 5.0, 6.0, 5.0, 6.0, 5.0, 4.0, 5.0, 6.0])
    assert cross_hold(fast, slow).tolist() == [0, 0, 0, 1, 1, 1, 1, 0, 0, 1]
    # touching from below and going back is no cross; a tie from the start is no order
    assert not cross_hold(np.array([4.0, 5.0, 4.0]), np.array([5.0, 5.0, 5.0])).any()
    assert not cross_hold(np.array([5.0, 5.0, 6.0]), np.array([5.0, 5.0, 5.0])).any()


def test_an_exact_sma_tie_inside_a_position_does_not_exit() -> None:
    # SMA(2) and SMA(4) of these decimals: below, below, above (cross at bar 5), an exact
    # tie at bar 6 ((100.5 + 100.3) / 2 == (100.2 + 100.2 + 100.5 + 100.3) / 4 ... as
    # rationals), above, ..., below from bar 10
    prices = [100.2, 100.5, 100.3, 100.2, 100.5, 100.3, 100.4, 100.6, 100.8, 100.6, 100.5, 100.6]
    fast, slow = sma(np.asarray(prices), 2), sma(np.asarray(prices), 4)
    assert fast[6] == slow[6]
    assert _target("sma_cross", prices, fast=2, slow=4) == [0.0] * 5 + [1.0] * 5 + [0.0] * 2


@pytest.mark.parametrize("seed", range(20))
def test_a_flat_stretch_after_a_moving_market_is_an_exact_tie(seed: int) -> None:
    """Rolling sums by cumulative sums drift: after a random walk, SMA(3) and SMA(10) of
    a flat stretch came out different doubles and crossed back and forth on nothing."""
    rng = np.random.default_rng(seed)
    walk = np.round(20_000 + np.cumsum(rng.normal(0, 10, 100)), 2)
    level = round(float(rng.uniform(100, 30_000)), 2)
    close = np.concatenate((walk, np.full(60, level)))
    fast, slow = sma(close, 3), sma(close, 10)
    np.testing.assert_array_equal(fast[109:], level)
    np.testing.assert_array_equal(slow[109:], level)
    target = _target("sma_cross", close.tolist(), fast=3, slow=10)
    assert len(set(target[109:])) == 1  # nothing crosses while the market stands still


@pytest.mark.parametrize("name", CROSSES)
@pytest.mark.parametrize("level", [0.1, 0.3, 1.7, 20_123.45, 3e-5])
def test_constant_prices_never_cross(name: str, level: float) -> None:
    close = np.full(50, level)
    average = sma if name == "sma_cross" else ema
    np.testing.assert_array_equal(average(close, 3)[9:], average(close, 10)[9:])
    assert _target(name, close.tolist(), fast=3, slow=10, entry="state") == [0.0] * 50
    assert _target(name, close.tolist(), fast=3, slow=10) == [0.0] * 50


@settings(max_examples=60, deadline=None)
@given(
    cents=st.lists(st.integers(-300, 300), min_size=12, max_size=80),
    base=st.integers(1, 5_000_000),
    digits=st.integers(0, 4),
    windows=st.tuples(st.integers(1, 6), st.integers(2, 12)).filter(lambda w: w[0] < w[1]),
)
def test_decimal_smas_order_like_their_exact_values(
    cents: list[int], base: int, digits: int, windows: tuple[int, int]
) -> None:
    """Equal exact means give equal doubles; a strict order is never reversed."""
    scale = 10**digits
    units = np.maximum(base + np.cumsum(np.asarray(cents) // 3 * 3), 1)  # many repeats
    prices = [Fraction(int(u), scale) for u in units]
    close = np.asarray([float(p) for p in prices])
    fw, sw = windows
    fast, slow = sma(close, fw), sma(close, sw)
    for t in range(sw - 1, len(prices)):
        exact_fast = sum(prices[t - fw + 1 : t + 1], Fraction(0)) / fw
        exact_slow = sum(prices[t - sw + 1 : t + 1], Fraction(0)) / sw
        if exact_fast == exact_slow:
            assert fast[t] == slow[t]
        elif exact_fast > exact_slow:
            assert fast[t] >= slow[t]
        else:
            assert fast[t] <= slow[t]


@pytest.mark.parametrize("name", CROSSES)
def test_both_engines_trade_the_crossing_bars(name: str) -> None:
    rng = np.random.default_rng(7)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400))), 2)
    prices = close.tolist()
    target = np.asarray(_target(name, prices, fast=5, slow=20))
    bars = arrays([prices[0], *prices[:-1]], prices)
    ex = Execution(capital=1_000.0)
    a, b = run_vectorized(bars, target, ex), run_events(bars, ex, target=target)
    entries = np.flatnonzero(np.diff(target, prepend=0.0) > 0) + 1  # next open
    assert a.trades["entry_bar"].to_list() == entries[entries < close.size].tolist()
    assert b.trades["entry_bar"].to_list() == a.trades["entry_bar"].to_list()
