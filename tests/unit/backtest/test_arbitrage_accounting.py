"""Arbitrage accounting: transit valuation, currencies, attribution, benchmark, open trades."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.backtest.arbitrage import (
    AlignedMarket,
    ArbitrageConfig,
    PairDecisions,
    execute_crosses,
    execute_pairs,
)
from arbx.domain.backtest.costs import SlippageModel
from arbx.domain.backtest.request import decode_request, validate_request
from arbx.domain.backtest.result import BacktestResult
from arbx.domain.errors import InvalidInput
from arbx.domain.strategies.arbitrage import ThresholdArbParams, cross_decisions
from tests.unit.backtest.arb_builders import always, bars, venue


def held_value(m: AlignedMarket, result: BacktestResult) -> np.ndarray:
    """Equity recomputed from the balances: transit at its destination's mark and rate."""
    bal = result.balances
    assert bal is not None
    marks = m.common_mark()
    return sum(
        (bal[f"{label}:base"].to_numpy() + bal[f"{label}:transit_base"].to_numpy()) * marks[i]
        + (bal[f"{label}:quote"].to_numpy() + bal[f"{label}:transit_quote"].to_numpy()) * m.rate[i]
        for i, label in enumerate(m.labels)
    )


def assert_attribution_adds_up(result: BacktestResult) -> None:
    a = result.attribution
    assert a is not None
    assert a.total_pnl == pytest.approx(result.final_equity - result.capital, abs=1e-9)
    assert sum(a.parts().values()) == pytest.approx(a.total_pnl, abs=1e-7 * result.capital)
    assert abs(a.residual) <= 1e-7 * result.capital


def depeg_market(n: int = 20) -> AlignedMarket:
    """USD venue at 100, a USDC venue at 110 USDC with 1 USDC = 0.9 USD: BTC is cheaper
    on the USDC venue (99 USD) every bar."""
    return AlignedMarket.align(
        [
            venue("binance", "BTC/USD", [100.0] * n),
            venue("kraken", "BTC/USDC", [110.0] * n, conversion=bars([0.9] * n)),
        ]
    )


def test_quote_in_transit_is_valued_at_its_destination_rate_and_lands_without_a_jump() -> None:
    m = depeg_market()
    cfg = ArbitrageConfig(
        capital=2_000.0,
        min_notional=0.0,
        transfer_fee_bps=10.0,
        transfer_delay_bars=5,
        fx_cost_bps=20.0,
    )
    result = execute_crosses(m, cfg, always(m, buy=1, sell=0, upto=4, qty=1.5))
    legs = result.trades
    withdraw = legs.filter(pl.col("side") == "withdraw_quote").to_dicts()
    deposit = legs.filter(pl.col("side") == "deposit_quote").to_dicts()
    assert len(withdraw) == len(deposit) == 1
    assert (withdraw[0]["venue"], deposit[0]["venue"]) == ("binance", "kraken")
    # converted at the bar's rate (1 USD = 1/0.9 USDC) and charged the FX cost
    sent = withdraw[0]["qty"] * (1 - 10e-4)
    assert deposit[0]["qty"] == pytest.approx(sent / 0.9 * (1 - 20e-4))
    equity = result.curve["equity"].to_numpy()
    np.testing.assert_allclose(equity, held_value(m, result), rtol=1e-12)
    last_trade = int(legs.filter(pl.col("trade_id") >= 0)["bar"].max())
    assert withdraw[0]["bar"] <= last_trade
    # after the last fill nothing moves: prices and rates are constant, and funds landing
    # on kraken were already valued there
    np.testing.assert_allclose(np.diff(equity[last_trade:]), 0.0, atol=1e-9)
    assert deposit[0]["bar"] > last_trade
    a = result.attribution
    assert a is not None
    base_moves = legs.filter(pl.col("side") == "withdraw_base")
    base_fee_value = sum(
        leg["fee"] * leg["price"] * (0.9 if leg["venue"] == "kraken" else 1.0)
        for leg in base_moves.to_dicts()
    )
    assert a.transfer_fees == pytest.approx(-withdraw[0]["qty"] * 10e-4 - base_fee_value)
    assert a.fx_costs == pytest.approx(-sent * 20e-4)
    assert_attribution_adds_up(result)


def test_base_in_transit_is_marked_at_its_destination() -> None:
    n = 12
    m = AlignedMarket.align(
        [venue("binance", "BTC/USD", [100.0] * n), venue("kraken", "BTC/USD", [102.0] * n)]
    )
    cfg = ArbitrageConfig(
        capital=2_000.0, min_notional=0.0, transfer_fee_bps=0.0, transfer_delay_bars=4
    )
    result = execute_crosses(m, cfg, always(m, buy=0, sell=1, upto=3, qty=4.0))
    bal = result.balances
    assert bal is not None
    moving = bal["kraken:BTC/USD:transit_base"].to_numpy()
    assert moving.max() > 0  # base on its way to kraken
    np.testing.assert_allclose(result.curve["equity"].to_numpy(), held_value(m, result))
    equity = result.curve["equity"].to_numpy()
    last = int(result.trades["bar"].filter(result.trades["trade_id"] >= 0).max())
    np.testing.assert_allclose(np.diff(equity[last:]), 0.0, atol=1e-9)
    assert_attribution_adds_up(result)


def arb_request(**change: object) -> dict[str, object]:
    base: dict[str, object] = {
        "strategy": "threshold_arb",
        "series": ["kraken:BTC/USDC:1m", "kraken:BTC/USD:1m"],
        "conversions": {"kraken:BTC/USDC:1m": "kraken:USDC/USD:1m"},
        "start": "2023-03-01",
        "end": "2023-03-02",
    }
    return {**base, **change}


def test_the_common_currency_is_explicit_and_every_other_quote_is_converted() -> None:
    valid = validate_request(decode_request(arb_request()))
    assert valid.common_currency() == "USD"  # what the first series' conversion prices in
    plain = arb_request(series=["binanceus:BTC/USDT:1m", "kraken:BTC/USDT:1m"], conversions={})
    assert validate_request(decode_request(plain)).common_currency() == "USDT"
    with pytest.raises(InvalidInput) as missing:
        validate_request(decode_request(arb_request(conversions={})))
    assert missing.value.field == "conversions"
    assert "kraken:BTC/USD:1m" in str(missing.value)
    assert "assume_parity" in str(missing.value)
    parity = arb_request(conversions={}, arbitrage={"assume_parity": ["USD"]})
    assert validate_request(decode_request(parity)).common_currency() == "USDC"
    wrong = arb_request(arbitrage={"common_currency": "EUR"})
    with pytest.raises(InvalidInput) as bad:
        validate_request(decode_request(wrong))
    assert bad.value.field == "conversions"


def test_the_engine_refuses_an_unconverted_quote_and_records_parity() -> None:
    series = [venue("binance", "BTC/USDT", [100.0] * 3), venue("kraken", "BTC/USD", [100.0] * 3)]
    with pytest.raises(InvalidInput, match="kraken:BTC/USD"):
        AlignedMarket.align(series)
    m = AlignedMarket.align(series, common_currency="USDT", assume_parity=("USD",))
    assert m.common_currency == "USDT"
    result = execute_crosses(
        m, ArbitrageConfig(capital=1_000.0), always(m, buy=0, sell=1, upto=0, qty=1.0)
    )
    assert result.common_currency == "USDT"
    assert any("assume_parity" in note and "USD" in note for note in result.notes)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sizing": {"kind": "fixed_notional", "notional": 100.0}}, "sizing"),
        ({"engine": "event"}, "engine"),
        ({"risk": {"stop_loss": 0.05}}, "risk.stop_loss"),
        ({"risk": {"take_profit": 0.05}}, "risk.take_profit"),
        ({"risk": {"trailing_stop": 0.05}}, "risk.trailing_stop"),
        ({"risk": {"max_position": 1.0}}, "risk.max_position"),
    ],
)
def test_request_fields_arbitrage_cannot_honour_are_refused(
    change: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_request(decode_request(arb_request(**change)))
    assert err.value.field == field
    assert "not honoured by arbitrage" in str(err.value)


def test_risk_rules_arbitrage_honours_reach_the_engine() -> None:
    valid = validate_request(
        decode_request(
            arb_request(
                risk={"max_drawdown": 0.02, "max_volume_share": 0.1},
                arbitrage={"max_inventory": 3.0, "max_notional": 500.0, "max_fill_delay_bars": 2},
            )
        )
    )
    cfg = valid.arbitrage_config()
    assert (cfg.max_drawdown, cfg.max_volume_share) == (0.02, 0.1)
    assert (cfg.max_inventory, cfg.max_notional, cfg.max_fill_delay_bars) == (3.0, 500.0, 2)


def test_the_kill_switch_stops_trading_and_sells_the_inventory() -> None:
    n = 60
    falling = list(100.0 * 0.995 ** np.arange(n))
    m = AlignedMarket.align(
        [
            venue("binance", "BTC/USD", falling),
            venue("kraken", "BTC/USD", [p * 1.01 for p in falling]),
        ]
    )
    cfg = ArbitrageConfig(capital=10_000.0, min_notional=0.0, max_drawdown=0.02)
    result = execute_crosses(m, cfg, always(m, buy=0, sell=1, upto=n - 1, qty=0.5))
    sold = result.trades.filter(pl.col("purpose") == "kill_switch")
    assert sold.height == 2  # the base on both venues
    trip_bar = int(sold["bar"].min())
    assert result.trades.filter(pl.col("trade_id") >= 0)["bar"].max() < trip_bar
    opp = result.opportunities
    assert opp is not None
    assert opp.skipped_risk_rule > 0
    assert any("max_drawdown" in note for note in result.notes)
    # drawdown stops at the limit plus the bar it took to sell, not the whole fall
    assert result.metrics.max_drawdown is not None
    assert result.metrics.max_drawdown < 0.03
    bal = result.balances
    assert bal is not None
    assert bal["binance:BTC/USD:base"][-1] == 0.0
    assert_attribution_adds_up(result)


def test_max_inventory_and_max_notional_cap_round_trips() -> None:
    n = 30
    m = AlignedMarket.align(
        [venue("binance", "BTC/USD", [100.0] * n), venue("kraken", "BTC/USD", [102.0] * n)]
    )
    cfg = ArbitrageConfig(
        capital=20_000.0, min_notional=1.0, max_inventory=52.0, max_notional=250.0
    )
    result = execute_crosses(m, cfg, always(m, buy=0, sell=1, upto=n - 1, qty=5.0))
    buys = result.trades.filter((pl.col("side") == "buy") & (pl.col("trade_id") >= 0))
    assert (buys["qty"] * buys["price"]).max() <= 250.0 + 1e-9
    bal = result.balances
    assert bal is not None
    assert bal["binance:BTC/USD:base"].max() <= 52.0 + 1e-9  # started at 50
    opp = result.opportunities
    assert opp is not None
    assert opp.skipped_risk_rule > 0
    assert opp.taken > 0


def test_an_open_stat_arb_position_is_an_open_trade_marked_to_market() -> None:
    n = 12
    a = venue("binance", "BTC/USD", [100.0] * n)
    b = venue("kraken", "BTC/USD", [100.0] * 3, slots=range(3))  # kraken stops quoting
    m = AlignedMarket.align([a, b])
    enter = np.zeros(m.n, dtype=np.int8)
    enter[1] = 1
    decisions = PairDecisions(enter, np.ones(m.n, dtype=bool), max_hold=5, qty=1.0)
    result = execute_pairs(m, ArbitrageConfig(capital=2_000.0, min_notional=0.0), decisions)
    legs = result.trades.filter(pl.col("trade_id") == 0)
    assert legs["purpose"].to_list() == ["open", "open"]
    assert legs["is_open"].all()
    assert (result.metrics.trade_count, result.metrics.open_trades) == (0, 1)
    assert any("still open" in note for note in result.notes)


def test_a_close_that_cannot_fill_leaves_the_rest_of_the_position_open() -> None:
    n = 10
    a = venue("binance", "BTC/USD", [100.0] * n)
    b = venue("kraken", "BTC/USD", [100.0, 100.0, 100.0] + [300.0] * (n - 3))
    m = AlignedMarket.align([a, b])
    enter = np.zeros(n, dtype=np.int8)
    enter[0] = 1  # buy binance, sell kraken
    exit_ok = np.zeros(n, dtype=bool)
    exit_ok[4:] = True
    cfg = ArbitrageConfig(
        capital=2_000.0, base_fraction=0.9, min_notional=0.0, transfer_delay_bars=1_000
    )
    result = execute_pairs(m, cfg, PairDecisions(enter, exit_ok, max_hold=100, qty=1.0))
    legs = result.trades.filter(pl.col("trade_id") == 0)
    opened = legs.filter((pl.col("purpose") == "open") & (pl.col("side") == "buy"))["qty"].sum()
    closed = legs.filter((pl.col("purpose") == "close") & (pl.col("side") == "buy"))["qty"].sum()
    assert 0 < closed < opened  # kraken's quote bought back only part of it
    assert legs["is_open"].all()
    assert result.metrics.open_trades == 1
    assert_attribution_adds_up(result)


def test_the_benchmark_holds_the_opening_inventory() -> None:
    n = 40
    rng = np.random.default_rng(3)
    path = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    m = AlignedMarket.align(
        [
            venue("binance", "BTC/USD", list(path)),
            venue("kraken", "BTC/USDC", list(path * 1.02), conversion=bars([0.99] * n)),
        ]
    )
    cfg = ArbitrageConfig(capital=10_000.0, min_notional=0.0)
    idle = execute_crosses(m, cfg, always(m, buy=0, sell=1, upto=0, qty=1.0))
    assert idle.benchmark is not None
    np.testing.assert_allclose(idle.benchmark.final_equity, idle.final_equity)
    assert idle.excess_pnl == pytest.approx(0.0, abs=1e-9)
    busy = execute_crosses(m, cfg, always(m, buy=0, sell=1, upto=n - 1, qty=1.0))
    assert busy.benchmark == idle.benchmark  # the same inventory, whatever the trading
    assert busy.excess_pnl == pytest.approx(busy.final_equity - idle.final_equity)
    assert busy.excess_return == pytest.approx(
        (busy.final_equity - idle.final_equity) / cfg.capital
    )


@st.composite
def markets(draw: st.DrawFn) -> tuple[AlignedMarket, float]:
    n = draw(st.integers(5, 80))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    path = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    series = []
    quotes = ["USD", "USDC", "USDT"]
    for i in range(draw(st.integers(2, 3))):
        close = path * np.exp(rng.normal(0, 0.004, n))
        open_ = close * np.exp(rng.normal(0, 0.001, n))
        keep = np.sort(
            rng.choice(n, size=max(2, int(n * draw(st.floats(0.5, 1.0)))), replace=False)
        )
        keep[0] = 0
        keep = np.unique(keep)
        conv = None
        if i > 0:
            rate = np.clip(1 + np.cumsum(rng.normal(0, 0.002, n)), 0.8, 1.2)
            conv = bars(list(rate))
        series.append(
            venue(
                f"v{i}",
                f"BTC/{quotes[i]}",
                list(close[keep]),
                open_=list(open_[keep]),
                slots=list(keep),
                volume=list(rng.gamma(2.0, 1.0, keep.size)),
                fee_bps=draw(st.floats(0, 30)),
                conversion=conv,
            )
        )
    return AlignedMarket.align(series), draw(st.floats(0.05, 3.0))


@settings(max_examples=60, deadline=None)
@given(
    mq=markets(),
    threshold=st.floats(0, 40),
    fill=st.sampled_from(["next_open", "close"]),
    delay=st.integers(0, 6),
    k_bps=st.floats(0, 50),
    drawdown=st.one_of(st.none(), st.floats(0.005, 0.2)),
)
def test_attribution_parts_sum_to_the_pnl(
    mq: tuple[AlignedMarket, float],
    threshold: float,
    fill: str,
    delay: int,
    k_bps: float,
    drawdown: float | None,
) -> None:
    m, qty = mq
    cfg = ArbitrageConfig(
        capital=5_000.0,
        fill=fill,  # type: ignore[arg-type]
        min_notional=0.0,
        transfer_delay_bars=delay,
        transfer_fee_bps=7.0,
        fx_cost_bps=3.0,
        rebalance_trigger=0.6,
        slippage=SlippageModel("volume_share", k_bps=k_bps),
        max_drawdown=drawdown,
    )
    params = ThresholdArbParams(threshold_bps=threshold, max_qty=qty)
    result = execute_crosses(m, cfg, cross_decisions(m, params, cfg.slippage, 5))
    assert_attribution_adds_up(result)
    np.testing.assert_allclose(result.curve["equity"].to_numpy(), held_value(m, result))
