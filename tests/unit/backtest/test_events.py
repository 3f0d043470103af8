"""Path-dependent features of the event-driven engine, each on a hand-made path."""

from __future__ import annotations

import numpy as np
import pytest

from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.backtest.events import Context, RiskRules, run_events
from arbx.domain.backtest.execution import Execution
from arbx.domain.errors import InvalidInput
from tests.unit.backtest.helpers import arrays

EX = Execution(capital=1000.0)
LONG = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0])


def test_stop_loss_exits_at_the_level_or_a_worse_open() -> None:
    bars = arrays(
        [100, 100, 99, 90, 91, 92],
        [100, 99, 97, 91, 92, 93],
        low=[100, 98, 96, 85, 90, 91],
        high=[100, 100, 99, 92, 93, 94],
    )
    result = run_events(bars, EX, target=LONG, risk=RiskRules(stop_loss=0.05))
    trade = result.trades.row(0, named=True)
    assert trade["exit_reason"] == "stop_loss"
    assert trade["exit_bar"] == 3
    assert trade["exit_price"] == pytest.approx(90.0)  # gapped below the 95 stop: the open
    assert result.curve["position"][-1] == 0.0  # no re-entry without a new 0->1 signal


def test_take_profit_and_trailing_stop() -> None:
    bars = arrays(
        [100, 100, 104, 108, 106, 100],
        [100, 103, 107, 107, 101, 99],
        high=[100, 104, 111, 109, 106, 100],
        low=[100, 99, 103, 106, 100, 98],
    )
    tp = run_events(bars, EX, target=LONG, risk=RiskRules(take_profit=0.1))
    row = tp.trades.row(0, named=True)
    assert (row["exit_reason"], row["exit_bar"]) == ("take_profit", 2)
    assert row["exit_price"] == pytest.approx(110.0)
    assert tp.fills["liquidity"].to_list() == ["taker", "maker"]
    trail = run_events(bars, EX, target=LONG, risk=RiskRules(trailing_stop=0.05))
    row = trail.trades.row(0, named=True)
    # peak high 111 (bar 2) -> level 105.45, hit on bar 4 (low 100) at the level
    assert (row["exit_reason"], row["exit_bar"]) == ("trailing_stop", 4)
    assert row["exit_price"] == pytest.approx(111 * 0.95)


def test_position_limit_caps_quantity() -> None:
    bars = arrays([100.0] * 4)
    result = run_events(bars, EX, target=np.ones(4), risk=RiskRules(max_position=2.5))
    assert result.curve["position"].to_list() == [0.0, 2.5, 2.5, 2.5]
    assert result.orders["status"].to_list() == ["partially_filled"]


def test_partial_fills_over_a_share_of_bar_volume() -> None:
    bars = arrays([10.0] * 5, volume=[100.0] * 5)
    ex = Execution(capital=1000.0, fees=FeeSchedule(taker_bps=0.0))
    result = run_events(bars, ex, target=np.ones(5), risk=RiskRules(max_volume_share=0.4))
    # wants 100 units, 40 per bar: 40, 40, 20
    assert result.fills["qty"].to_list() == pytest.approx([40.0, 40.0, 20.0])
    assert result.fills["bar"].to_list() == [1, 2, 3]
    assert result.curve["position"].to_list() == pytest.approx([0, 40, 80, 100, 100])
    assert result.orders["status"].to_list() == ["filled"]


def test_kill_switch_flattens_and_stops_trading() -> None:
    bars = arrays([100, 100, 80, 70, 90, 95], [100, 100, 75, 70, 95, 96])
    target = np.array([1.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    result = run_events(bars, EX, target=target, risk=RiskRules(max_drawdown=0.2))
    assert result.trades["exit_reason"].to_list() == ["kill_switch"]
    assert result.trades["exit_bar"].to_list() == [3]  # tripped at close 2, sold at open 3
    assert result.curve["position"][-1] == 0.0  # the later 0->1 is ignored
    assert result.fills.height == 2


class LimitThenStop:
    """Buys 1 with a limit below the market, then protects it with a stop order."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_bar(self, ctx: Context) -> None:
        history = ctx.history()
        self.seen.append(history.n)
        assert history.n == ctx.t + 1
        if ctx.t == 0:
            ctx.buy(1.0, kind="limit", limit=95.0)
        if ctx.position > 0 and not ctx.open_orders:
            ctx.sell(kind="stop", stop=90.0)


def test_limit_and_stop_orders_through_a_callback_strategy() -> None:
    bars = arrays(
        [100, 98, 96, 94, 91],
        [98, 97, 95, 92, 88],
        high=[101, 99, 97, 95, 92],
        low=[97, 96, 94, 91, 86],
    )
    strategy = LimitThenStop()
    ex = Execution(capital=1000.0, fees=FeeSchedule(maker_bps=10, taker_bps=20))
    result = run_events(bars, ex, strategy=strategy)
    assert strategy.seen == [1, 2, 3, 4, 5]
    fills = result.fills.to_dicts()
    assert [(f["bar"], f["side"], f["liquidity"]) for f in fills] == [
        (2, "buy", "maker"),
        (4, "sell", "taker"),
    ]
    assert fills[0]["price"] == pytest.approx(95.0)
    assert fills[0]["fee"] == pytest.approx(95.0 * 0.001)
    assert fills[1]["price"] == pytest.approx(90.0)
    assert result.curve["cash"][-1] == pytest.approx(1000 - 95 * 1.001 + 90 * 0.998)


def test_engine_needs_exactly_one_of_target_or_strategy() -> None:
    with pytest.raises(InvalidInput):
        run_events(arrays([1.0, 2.0]), EX)
    with pytest.raises(InvalidInput):
        RiskRules(stop_loss=1.5)
