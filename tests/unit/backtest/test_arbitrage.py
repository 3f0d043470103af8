"""Arbitrage accounting on hand-made two-venue paths."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from arbx.domain.backtest.arbitrage import (
    AlignedMarket,
    ArbitrageConfig,
    CrossDecisions,
    VenueSeries,
    execute_crosses,
    execute_pairs,
)
from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.backtest.result import BacktestResult
from arbx.domain.strategies.arbitrage import (
    StatArbParams,
    ThresholdArbParams,
    cross_decisions,
    pair_decisions,
)
from tests.unit.backtest.helpers import arrays


def market(
    a: list[float], b: list[float], fee_bps: float = 10.0, conv_b: list[float] | None = None
) -> AlignedMarket:
    fees = FeeSchedule(taker_bps=fee_bps)
    conv = arrays(conv_b) if conv_b is not None else None
    return AlignedMarket.align(
        [
            VenueSeries("binance", "BTC/USDT", arrays(a, venue="binance"), fees),
            VenueSeries("kraken", "BTC/USD", arrays(b, venue="kraken"), fees, conv),
        ],
        assume_parity=() if conv is not None else ("USD",),
    )


def check_identities(m: AlignedMarket, result: BacktestResult) -> None:
    """Balances never negative; equity is the sum of its parts at every bar, money in
    transit valued at its destination's mark and conversion rate; the attribution adds up."""
    bal = result.balances
    assert bal is not None
    labels = m.labels
    for label in labels:
        assert (bal[f"{label}:base"].to_numpy() >= -1e-12).all()
        assert (bal[f"{label}:quote"].to_numpy() >= -1e-9).all()
    marks = m.mark * m.rate
    parts = sum(
        (bal[f"{label}:base"].to_numpy() + bal[f"{label}:transit_base"].to_numpy()) * marks[i]
        + (bal[f"{label}:quote"].to_numpy() + bal[f"{label}:transit_quote"].to_numpy()) * m.rate[i]
        for i, label in enumerate(labels)
    )
    np.testing.assert_allclose(result.curve["equity"].to_numpy(), parts, rtol=1e-12)
    total_transit = sum(bal[f"{label}:transit_base"].to_numpy() for label in labels)
    np.testing.assert_allclose(bal["transit_base"].to_numpy(), total_transit)
    attribution = result.attribution
    assert attribution is not None
    assert attribution.total_pnl == pytest.approx(result.final_equity - result.capital)
    assert sum(attribution.parts().values()) == pytest.approx(
        attribution.total_pnl, abs=1e-6 * result.capital
    )


def test_round_trip_buys_cheap_sells_dear_and_pays_both_fees() -> None:
    m = market([100.0, 100.0, 100.0], [100.0, 101.0, 101.0])
    cfg = ArbitrageConfig(capital=20_000.0, transfer_delay_bars=0, min_notional=0.0)
    decisions = cross_decisions(m, ThresholdArbParams(threshold_bps=50, max_qty=2.0), cfg.slippage)
    assert decisions.bar.tolist() == [1, 2]
    assert decisions.net_ok.tolist() == [True, True]  # 100 bps gross - 20 bps fees
    result = execute_crosses(m, cfg, decisions)
    legs = result.trades.filter(pl.col("trade_id") == 0).to_dicts()
    assert [(leg["venue"], leg["side"], leg["bar"]) for leg in legs] == [
        ("binance", "buy", 2),
        ("kraken", "sell", 2),
    ]
    assert legs[0]["fee"] == pytest.approx(2 * 100 * 0.001)
    assert legs[1]["fee"] == pytest.approx(2 * 101 * 0.001)
    bal = result.balances
    assert bal is not None
    # each venue starts with 10_000: 50 base and 5_000 quote
    assert bal["binance:BTC/USDT:base"][-1] == pytest.approx(50 + 2)
    assert bal["binance:BTC/USDT:quote"][-1] == pytest.approx(5000 - 200 * 1.001)
    assert bal["kraken:BTC/USD:base"][-1] == pytest.approx(50 - 2)
    assert bal["kraken:BTC/USD:quote"][-1] == pytest.approx(5000 + 202 * 0.999)
    opp = result.opportunities
    assert opp is not None
    # bar 1 filled at bar 2; bar 2's decision has no bar 3 to fill at
    assert (opp.seen, opp.taken, opp.skipped_no_market) == (2, 1, 1)
    check_identities(m, result)


def test_costs_above_the_gap_are_skipped_with_reason() -> None:
    m = market([100.0] * 4, [100.3] * 4, fee_bps=20.0)
    cfg = ArbitrageConfig(capital=20_000.0)
    decisions = cross_decisions(m, ThresholdArbParams(threshold_bps=10), cfg.slippage)
    result = execute_crosses(m, cfg, decisions)
    opp = result.opportunities
    assert opp is not None
    assert (opp.seen, opp.taken, opp.skipped_below_threshold_after_costs) == (4, 0, 4)


def test_legs_only_spend_what_a_venue_holds_and_transfers_take_time() -> None:
    n = 12
    m = market([100.0] * n, [102.0] * n, fee_bps=0.0)
    cfg = ArbitrageConfig(
        capital=2_000.0,
        base_fraction=0.5,
        min_notional=0.0,
        transfer_fee_bps=10.0,
        transfer_delay_bars=3,
        rebalance_trigger=0.25,
    )
    decisions = CrossDecisions(
        bar=np.arange(n - 1, dtype=np.int64),
        buy=np.zeros(n - 1, dtype=np.int64),
        sell=np.ones(n - 1, dtype=np.int64),
        net_ok=np.ones(n - 1, dtype=bool),
        max_qty=4.0,
    )
    result = execute_crosses(m, cfg, decisions)
    bal = result.balances
    assert bal is not None
    # kraken starts with 500/102 base: it can never sell more than that plus what arrived
    sells = result.trades.filter((pl.col("side") == "sell") & (pl.col("trade_id") >= 0))
    arrived = result.trades.filter(
        (pl.col("side") == "deposit_base") & (pl.col("venue") == "kraken")
    )["qty"].sum()
    assert sells["qty"].sum() <= 500 / 102 + arrived + 1e-9
    assert sells["qty"].sum() > 500 / 102  # it did trade again after a rebalance
    opp = result.opportunities
    assert opp is not None
    assert opp.skipped_no_balance > 0
    assert opp.rebalances > 0
    withdraws = result.trades.filter(pl.col("side").str.starts_with("withdraw"))
    deposits = result.trades.filter(pl.col("side").str.starts_with("deposit"))
    inside = withdraws["bar"] + 3 < n  # later deposits are shown at the last bar
    delays = (deposits["bar"] - withdraws["bar"]).filter(inside).to_list()
    assert delays == [3] * int(inside.sum())
    assert delays
    assert (bal["transit_base"] + bal["transit_quote"]).max() > 0  # funds on no venue
    check_identities(m, result)
    # base is conserved by trades; only transfer fees remove it
    total_base = (
        bal["binance:BTC/USDT:base"] + bal["kraken:BTC/USD:base"] + bal["transit_base"]
    ).to_numpy()
    base_fees = withdraws.filter(pl.col("side") == "withdraw_base")["fee"].sum()
    assert total_base[0] - total_base[-1] == pytest.approx(base_fees, abs=1e-12)


def test_conversion_leg_prices_the_quote() -> None:
    # kraken quotes in a coin worth 0.9 common units: 110 there is 99 in common terms
    m = market([100.0] * 3, [110.0] * 3, fee_bps=0.0, conv_b=[0.9] * 3)
    price = m.common_close()
    assert price[1].tolist() == pytest.approx([99.0] * 3)
    d = cross_decisions(m, ThresholdArbParams(threshold_bps=50), ArbitrageConfig().slippage)
    assert d.buy.tolist() == [1, 1, 1]
    assert d.sell.tolist() == [0, 0, 0]


def test_stat_arb_opens_and_closes_with_the_same_quantity() -> None:
    rng = np.random.default_rng(5)
    base = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, 400)))
    noise = np.exp(rng.normal(0, 0.002, 400))
    m = market(list(base), list(base * noise), fee_bps=0.0)
    cfg = ArbitrageConfig(capital=100_000.0, min_notional=0.0)
    params = StatArbParams(lookback=20, z_in=1.5, z_out=0.3, max_hold=10, qty=1.0)
    result = execute_pairs(m, cfg, pair_decisions(m, params))
    legs = result.trades.filter(pl.col("trade_id") >= 0)
    assert legs.height > 0
    per_trade = legs.group_by("trade_id").agg(
        pl.col("purpose").n_unique().alias("kinds"),
        pl.len().alias("legs"),
        (pl.col("bar").max() - pl.col("bar").min()).alias("held"),
    )
    closed = per_trade.filter(pl.col("legs") == 4)
    assert closed.height > 0
    assert (closed["held"] <= params.max_hold + 1).all()
    # after a full open+close each venue's base is back where it started (qty equal)
    check_identities(m, result)
    # an open position at the end is an open trade, not a closed one
    assert result.metrics.trade_count + result.metrics.open_trades == per_trade.height
