"""Opportunity analytics and delayed fills of the arbitrage engine."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from arbx.domain.backtest.arbitrage import (
    AlignedMarket,
    ArbitrageConfig,
    PairDecisions,
    execute_crosses,
    execute_pairs,
)
from arbx.domain.backtest.result import OPPORTUNITY_SCHEMA
from arbx.domain.strategies.arbitrage import ThresholdArbParams, cross_decisions
from tests.unit.backtest.arb_builders import venue


def two(a: list[float], b: list[float], fee_bps: float = 10.0, **kw: object) -> AlignedMarket:
    return AlignedMarket.align(
        [
            venue("binance", "BTC/USD", a, fee_bps=fee_bps, **kw),  # type: ignore[arg-type]
            venue("kraken", "BTC/USD", b, fee_bps=fee_bps, **kw),  # type: ignore[arg-type]
        ]
    )


def test_consecutive_bars_above_threshold_form_one_opportunity() -> None:
    # kraken dear by 60, 80, 40 bps at bars 1-3, at par at 4, dear by 100 bps at 5-6; then
    # binance dear by 60 bps at 7 (the other direction)
    gaps = [0, 60, 80, 40, 0, 100, 100, 0, 0]
    b = [100 * (1 + g * 1e-4) for g in gaps]
    a = [100.0] * len(gaps)
    a[7] = 100.6
    m = two(a, b, fee_bps=10.0)
    cfg = ArbitrageConfig(capital=20_000.0, min_notional=0.0)
    d = cross_decisions(m, ThresholdArbParams(threshold_bps=30.0, max_qty=1.0), cfg.slippage)
    result = execute_crosses(m, cfg, d)
    table = result.opportunity_table
    assert table is not None
    assert table.schema == pl.Schema(OPPORTUNITY_SCHEMA)
    rows = table.to_dicts()
    assert [(r["start_bar"], r["duration_bars"]) for r in rows] == [(1, 3), (5, 2), (7, 1)]
    assert [(r["buy_venue"], r["sell_venue"]) for r in rows[:2]] == [("binance", "kraken")] * 2
    assert (rows[2]["buy_venue"], rows[2]["sell_venue"]) == ("kraken", "binance")
    first = rows[0]
    assert first["peak_gross_bps"] == pytest.approx(80.0)
    assert first["peak_net_bps"] == pytest.approx(60.0)  # minus two 10 bps taker fees
    assert first["mean_net_bps"] == pytest.approx((40 + 60 + 20) / 3)
    # 40 bps gross is 20 net: below the 30 bps threshold; bars 1 and 2 were filled
    assert (first["taken"], first["round_trips"], first["reason"]) == (True, 2, "taken")
    # bar 8 is the last: a decision at 7 fills there; the one at 6 fills at 7
    assert rows[2]["reason"] == "taken"
    opp = result.opportunities
    assert opp is not None
    assert (opp.seen, opp.taken, opp.skipped_below_threshold_after_costs) == (6, 5, 1)
    assert (opp.grouped, opp.grouped_taken) == (3, 3)
    assert sum(opp.net_spread_counts) == opp.grouped
    assert len(opp.net_spread_counts) == len(opp.net_spread_edges_bps) + 1
    # peaks of 60, 80 and 40 bps net: the [50, inf) bin holds two, [20, 50) one
    assert opp.net_spread_counts[-1] == 2
    assert opp.net_spread_counts[-2] == 1


@pytest.mark.parametrize(
    ("cfg", "last_bar", "reason"),
    [
        (ArbitrageConfig(capital=20_000.0, min_notional=1e9), False, "size_limit"),
        (
            ArbitrageConfig(capital=20_000.0, min_notional=0.0, base_fraction=1.0),
            False,
            "no_balance",
        ),
        (
            ArbitrageConfig(capital=20_000.0, min_notional=0.0, max_inventory=1.0),
            False,
            "risk_rule",
        ),
        (ArbitrageConfig(capital=20_000.0, min_notional=0.0), True, "no_market"),
    ],
)
def test_a_skipped_opportunity_says_why(cfg: ArbitrageConfig, last_bar: bool, reason: str) -> None:
    b = [100.0, 100.0, 101.0, 100.0] if not last_bar else [100.0, 100.0, 100.0, 101.0]
    m = two([100.0] * 4, b, fee_bps=0.0)
    d = cross_decisions(m, ThresholdArbParams(threshold_bps=10.0, max_qty=1.0), cfg.slippage)
    result = execute_crosses(m, cfg, d)
    table = result.opportunity_table
    assert table is not None
    assert table["reason"].to_list() == [reason]
    assert table["taken"].to_list() == [False]
    opp = result.opportunities
    assert opp is not None
    counted = {
        "size_limit": opp.skipped_size_limit,
        "no_balance": opp.skipped_no_balance,
        "risk_rule": opp.skipped_risk_rule,
        "no_market": opp.skipped_no_market,
    }
    assert counted[reason] == 1
    assert opp.seen == 1


def test_stat_arb_entries_while_in_position_are_skipped_as_in_position() -> None:
    n = 12
    m = two([100.0] * n, [100.0] * n, fee_bps=0.0)
    enter = np.zeros(n, dtype=np.int8)
    enter[[1, 2, 3]] = 1
    exit_ok = np.zeros(n, dtype=bool)
    exit_ok[6] = True
    result = execute_pairs(
        m,
        ArbitrageConfig(capital=2_000.0, min_notional=0.0),
        PairDecisions(enter, exit_ok, 20, 1.0),
    )
    table = result.opportunity_table
    assert table is not None
    assert table.to_dicts()[0]["duration_bars"] == 3
    assert table.to_dicts()[0]["round_trips"] == 1
    opp = result.opportunities
    assert opp is not None
    assert (opp.seen, opp.taken, opp.skipped_in_position) == (3, 1, 2)


def test_a_fill_late_across_a_data_gap_is_flagged_and_can_be_cancelled() -> None:
    # every venue leaves out minutes 3-6: a decision at minute 2 fills at minute 7
    slots = [0, 1, 2, 7, 8, 9]
    a = [100.0] * 6
    b = [100.0, 100.0, 101.0, 100.0, 100.0, 100.0]
    m = two(a, b, fee_bps=0.0, slots=slots)
    params = ThresholdArbParams(threshold_bps=10.0, max_qty=1.0)
    cfg = ArbitrageConfig(capital=20_000.0, min_notional=0.0)
    result = execute_crosses(m, cfg, cross_decisions(m, params, cfg.slippage))
    legs = result.trades.filter(pl.col("trade_id") >= 0)
    assert legs["delay_bars"].to_list() == [4, 4]  # decided at minute 2, filled at 7
    assert legs["ts"].dt.minute().to_list() == [(m.ts[3] // 60_000) % 60] * 2
    opp = result.opportunities
    assert opp is not None
    assert opp.fills_delayed == 1
    strict = ArbitrageConfig(capital=20_000.0, min_notional=0.0, max_fill_delay_bars=3)
    cancelled = execute_crosses(m, strict, cross_decisions(m, params, strict.slippage))
    legs = cancelled.trades.filter(pl.col("trade_id") >= 0)
    assert legs.is_empty()
    opp = cancelled.opportunities
    assert opp is not None
    assert (opp.skipped_fill_delay, opp.fills_delayed, opp.taken) == (1, 0, 0)
    table = cancelled.opportunity_table
    assert table is not None
    assert table["reason"].to_list() == ["fill_delay"]


def test_a_stat_arb_close_that_would_fill_late_is_cancelled_and_decided_again() -> None:
    """max_fill_delay_bars holds for closing orders too: the close decided at minute 2
    would fill at minute 7 (4 bars late, across the gap); it is cancelled, the position stays
    open and the close decided at the next bar fills at once."""
    slots = [0, 1, 2, 7, 8, 9]
    m = two([100.0] * 6, [100.0] * 6, fee_bps=0.0, slots=slots)
    enter = np.zeros(6, dtype=np.int8)
    enter[0] = 1
    exit_ok = np.zeros(6, dtype=bool)
    exit_ok[[2, 3]] = True
    decisions = PairDecisions(enter, exit_ok, 20, 1.0)
    loose = execute_pairs(m, ArbitrageConfig(capital=2_000.0, min_notional=0.0), decisions)
    closes = loose.trades.filter(pl.col("purpose") == "close")
    assert closes["delay_bars"].to_list() == [4, 4]
    strict_cfg = ArbitrageConfig(capital=2_000.0, min_notional=0.0, max_fill_delay_bars=3)
    strict = execute_pairs(m, strict_cfg, decisions)
    closes = strict.trades.filter(pl.col("purpose") == "close")
    assert closes["delay_bars"].to_list() == [0, 0]
    assert closes["ts"].dt.minute().to_list() == [(m.ts[4] // 60_000) % 60] * 2
    assert any("closing order(s) cancelled" in note for note in strict.notes)
