"""Venue minimum notional and lot size on single-market runs: defaults, overrides, skips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.backtest.costs import DEFAULT_VENUE_RULES, FeeSchedule, venue_rules
from arbx.domain.backtest.events import run_events
from arbx.domain.backtest.execution import Execution
from arbx.domain.backtest.request import decode_request, validate_request
from arbx.domain.backtest.runner import run
from arbx.domain.backtest.sizing import Sizing
from arbx.domain.backtest.vectorized import run_vectorized
from arbx.domain.errors import InvalidInput
from tests.builders import make_bars
from tests.strategies import bar_series
from tests.unit.backtest.helpers import arrays, from_frame

REQUEST = {
    "strategy": "buy_and_hold",
    "series": ["binance:BTC/USDC:1m"],
    "start": "2024-01-01",
    "end": "2024-01-02",
}
ENGINES = [
    lambda b, t, ex: run_vectorized(b, t, ex),
    lambda b, t, ex: run_events(b, ex, target=t),
]


def test_every_built_in_venue_has_a_minimum_and_a_btc_lot() -> None:
    assert set(DEFAULT_VENUE_RULES) == {"binance", "binanceus", "coinbase", "kraken"}
    for rules in DEFAULT_VENUE_RULES.values():
        assert 1.0 <= rules.min_notional <= 10.0
        assert 0.0 < rules.lot_size("BTC") <= 1e-4
    assert venue_rules("binance").lot_size("ETH") == 0.0  # no table entry: no rounding
    assert venue_rules("elsewhere").min_notional == 0.0


def test_requests_take_the_venue_rules_unless_they_override_them() -> None:
    ex = validate_request(decode_request(REQUEST)).execution()
    assert (ex.min_notional, ex.lot_size) == (5.0, 1e-5)
    kraken = validate_request(decode_request({**REQUEST, "series": ["kraken:BTC/USD:1m"]}))
    assert kraken.execution().lot_size == 1e-8
    own = {**REQUEST, "min_notional": 25.0, "lot_size": 0.001}
    ex = validate_request(decode_request(own)).execution()
    assert (ex.min_notional, ex.lot_size) == (25.0, 0.001)
    off = {**REQUEST, "min_notional": 0, "lot_size": 0}
    ex = validate_request(decode_request(off)).execution()
    assert (ex.min_notional, ex.lot_size) == (0.0, 0.0)


@pytest.mark.parametrize(("field", "value"), [("min_notional", -1.0), ("lot_size", -0.1)])
def test_negative_rules_are_refused(field: str, value: float) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_request(decode_request({**REQUEST, field: value}))
    assert err.value.field == field


@pytest.mark.parametrize("engine", ENGINES, ids=["vectorized", "event"])
def test_an_entry_below_the_minimum_is_not_opened_and_is_counted(engine) -> None:  # type: ignore[no-untyped-def]
    # two entries: the first commits 6 % of 100 = 6 and sells at a fifth of the price;
    # the second would commit 6 % of 95.2 = 5.71, below a minimum of 5.95: skipped
    bars = arrays([100.0, 100.0, 100.0, 20.0, 100.0, 100.0, 100.0, 100.0])
    target = np.array([1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    ex = Execution(capital=100.0, sizing=Sizing(fraction=0.06), min_notional=5.95)
    result = engine(bars, target, ex)
    assert result.trades.height == 1
    assert result.trades["entry_bar"].to_list() == [1]
    assert result.metrics.skipped_min_notional == 1
    assert result.fills["bar"].to_list() == [1, 3]
    allowed = engine(bars, target, Execution(capital=100.0, sizing=Sizing(fraction=0.06)))
    assert allowed.trades.height == 2
    assert allowed.metrics.skipped_min_notional == 0


@pytest.mark.parametrize("engine", ENGINES, ids=["vectorized", "event"])
def test_a_buy_smaller_than_one_lot_is_skipped(engine) -> None:  # type: ignore[no-untyped-def]
    bars = arrays([40_000.0] * 4)
    ex = Execution(capital=30.0, lot_size=0.001)  # 30 buys 0.00075 BTC: no whole lot
    result = engine(bars, np.array([1.0, 1.0, 1.0, 1.0]), ex)
    assert result.trades.height == 0
    assert result.metrics.skipped_min_notional == 1
    np.testing.assert_allclose(result.curve["equity"].to_numpy(), 30.0)


@settings(max_examples=40, deadline=None)
@given(
    frame=bar_series(min_size=2, max_size=150),
    seed=st.integers(0, 10_000),
    fraction=st.floats(0.01, 1.0),
    minimum=st.floats(0.0, 3_000.0),
    lot=st.sampled_from([0.0, 1e-5, 0.01]),
    fill=st.sampled_from(["next_open", "close"]),
)
def test_both_engines_skip_the_same_entries(frame, seed, fraction, minimum, lot, fill) -> None:  # type: ignore[no-untyped-def]
    bars = from_frame(frame)
    target = (np.random.default_rng(seed).random(bars.n) < 0.5).astype(np.float64)
    ex = Execution(
        capital=5_000.0,
        fees=FeeSchedule(taker_bps=10.0),
        sizing=Sizing(fraction=fraction),
        min_notional=minimum,
        lot_size=lot,
        fill=fill,
    )
    a, b = run_vectorized(bars, target, ex), run_events(bars, ex, target=target)
    assert a.metrics.skipped_min_notional == b.metrics.skipped_min_notional
    assert a.trades["entry_bar"].to_list() == b.trades["entry_bar"].to_list()
    np.testing.assert_allclose(
        a.curve["equity"].to_numpy(), b.curve["equity"].to_numpy(), rtol=1e-9
    )
    opened = a.trades["qty"].to_numpy() * a.trades["entry_price"].to_numpy()
    assert (opened >= minimum * (1 - 1e-12)).all()


def test_a_run_reports_its_skips() -> None:
    request = decode_request({**REQUEST, "capital": 4.0})  # below binance's 5 USDC
    valid = validate_request(request)
    result = run(valid, {valid.keys[0]: make_bars(50)})
    assert result.trades.height == 0
    assert result.metrics.skipped_min_notional == 1
