"""Arbitrage legs filled on synthetic books (execution "synthetic_book")."""

from __future__ import annotations

import msgspec
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.backtest.arbitrage import (
    AlignedMarket,
    ArbitrageConfig,
    CrossDecisions,
    RecordedBooks,
    execute_crosses,
    execute_pairs,
)
from arbx.domain.backtest.costs import SlippageModel
from arbx.domain.backtest.request import decode_request, validate_request
from arbx.domain.errors import InvalidInput
from arbx.domain.orderbook.book import BookDiff, BookSnapshot
from arbx.domain.orderbook.synthetic import SyntheticBook
from arbx.domain.orderbook.tape import BookReplay
from arbx.domain.strategies.arbitrage import StatArbParams, pair_decisions
from tests.unit.backtest.arb_builders import T0, always, venue
from tests.unit.backtest.test_arbitrage import check_identities

NO_REBALANCE = {"rebalance_trigger": 0.0, "min_notional": 0.0}


def market(vol_a: float = 1e6, vol_b: float = 1e6, n: int = 6) -> AlignedMarket:
    """binance at 100, kraken at 101 (1% dearer) on every bar."""
    return AlignedMarket.align(
        [
            venue("binance", "BTC/USD", [100.0] * n, volume=[vol_a] * n, fee_bps=10.0),
            venue("kraken", "BTC/USD", [101.0] * n, volume=[vol_b] * n, fee_bps=10.0),
        ]
    )


def config(**book: object) -> ArbitrageConfig:
    return ArbitrageConfig(
        capital=100_000.0,
        execution="synthetic_book",
        book=SyntheticBook(**book),  # type: ignore[arg-type]
        volume_window=1,
        **NO_REBALANCE,  # type: ignore[arg-type]
    )


def legs(result: object) -> pl.DataFrame:
    frame = result.fills  # type: ignore[attr-defined]
    assert isinstance(frame, pl.DataFrame)
    return frame


def test_bar_execution_is_flagged_as_bars() -> None:
    m = market()
    result = execute_crosses(m, ArbitrageConfig(capital=100_000.0), always(m, 0, 1, 2, 1.0))
    assert (result.execution, result.synthetic) == ("bars", False)
    assert not any("SYNTHETIC" in n for n in result.notes)


def test_legs_walk_the_book_from_the_touch() -> None:
    """Deep books: 1 BTC fills at the touch, half the spread from each mid."""
    m = market()
    result = execute_crosses(m, config(spread_bps=4.0), always(m, 0, 1, 2, 1.0))
    assert result.synthetic
    assert result.execution == "synthetic_book"
    assert any(n.startswith("SYNTHETIC order books") for n in result.notes)
    f = legs(result)
    assert f["purpose"].to_list() == ["arbitrage"] * 4
    buys = f.filter(pl.col("side") == "buy")["price"].to_list()
    sells = f.filter(pl.col("side") == "sell")["price"].to_list()
    assert buys == [pytest.approx(100.0 * (1 + 2e-4))] * 2
    assert sells == [pytest.approx(101.0 * (1 - 2e-4))] * 2
    a = result.attribution
    assert a is not None
    assert a.spread == pytest.approx(2 * 1.0 * 1.0)  # two round trips of 1 at a gap of 1
    assert a.slippage == pytest.approx(-2 * (100.0 + 101.0) * 2e-4)
    check_identities(m, result)


def test_walking_several_levels_costs_more() -> None:
    m = market(vol_a=100.0, vol_b=100.0)
    # levels of 0.05 x 100 = 5 BTC each, 1 bp apart: 12 BTC takes 5 + 5 + 2
    result = execute_crosses(
        m, config(spread_bps=0.0, level_step_bps=1.0), always(m, 0, 1, 1, 12.0)
    )
    buy = legs(result).filter(pl.col("side") == "buy")
    expect = 100.0 * (5 * (1 + 0e-4) + 5 * (1 + 1e-4) + 2 * (1 + 2e-4)) / 12.0
    assert buy["qty"].to_list() == [12.0]
    assert buy["price"][0] == pytest.approx(expect)
    check_identities(m, result)


def test_a_leg_without_depth_leaves_inventory_as_a_failed_leg() -> None:
    """kraken's book holds 10 x 0.05 x 4 = 2 BTC: a 5 BTC round trip sells 2 there; the 3
    more bought on binance stay as inventory, recorded as a failed leg with its cost."""
    m = market(vol_a=1e6, vol_b=4.0)
    result = execute_crosses(m, config(spread_bps=2.0), always(m, 0, 1, 1, 5.0))
    f = legs(result)
    arb = f.filter(pl.col("purpose") == "arbitrage")
    failed = f.filter(pl.col("purpose") == "failed_leg")
    assert arb["qty"].to_list() == [pytest.approx(2.0)] * 2
    assert failed["side"].to_list() == ["buy"]
    assert failed["venue"].to_list() == ["binance"]
    assert failed["qty"][0] == pytest.approx(3.0)
    assert failed["trade_id"].to_list() == [-3]
    assert failed["fee"][0] > 0
    bal = result.balances
    assert bal is not None
    start_a = bal["binance:BTC/USD:base"][0]
    assert bal["binance:BTC/USD:base"][-1] - start_a == pytest.approx(5.0)
    assert any("1 leg(s) could not fill in full" in n for n in result.notes)
    assert result.opportunities is not None
    assert result.opportunities.taken == 1
    # the round trip's P&L counts only the matched legs
    assert result.metrics.trade_count == 1
    # matched: sold 2 at ~101, bought 2 at ~100 (both with fees): a winning round trip
    assert result.metrics.best_trade is not None
    assert result.metrics.best_trade > 0
    check_identities(m, result)


def test_no_known_volume_means_no_book_and_no_fill() -> None:
    m = market(vol_a=0.0, vol_b=0.0)
    result = execute_crosses(m, config(), always(m, 0, 1, 3, 1.0))
    assert legs(result).height == 0
    assert result.opportunities is not None
    assert result.opportunities.skipped_no_market == 3


def test_latency_moves_the_fill_to_the_bar_holding_the_instant() -> None:
    m = AlignedMarket.align(
        [
            venue("binance", "BTC/USD", [100.0, 100.0, 100.0, 100.0], open_=[100, 100, 99, 98]),
            venue("kraken", "BTC/USD", [101.0] * 4),
        ]
    )
    decide = always(m, 0, 1, 1, 1.0)
    now = execute_crosses(m, config(spread_bps=0.0), decide)
    late = execute_crosses(m, config(spread_bps=0.0, latency_ms=90_000), decide)
    assert legs(now)["bar"].to_list() == [1, 1]
    # decided at bar 0, fills at the open of 1 + 90 s: inside bar 2, at its open (99)
    assert legs(late)["bar"].to_list() == [2, 2]
    assert legs(late)["delay_bars"].to_list() == [1, 1]
    buy = legs(late).filter(pl.col("side") == "buy")["price"][0]
    assert buy == pytest.approx(99.0)
    past_end = execute_crosses(m, config(latency_ms=10 * 60_000), decide)
    assert legs(past_end).height == 0


def test_replaying_a_book_run_is_bit_identical() -> None:
    m = market(vol_a=50.0, vol_b=30.0, n=20)
    cfg = config(spread_bps=3.0, depth_growth=1.5)
    one = execute_crosses(m, cfg, always(m, 0, 1, 19, 4.0))
    two = execute_crosses(m, cfg, always(m, 0, 1, 19, 4.0))
    assert one.curve.equals(two.curve)
    assert one.fills.equals(two.fills)
    np.testing.assert_array_equal(one.curve["equity"].to_numpy(), two.curve["equity"].to_numpy())


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (
            {"execution": "synthetic_book", "slippage": SlippageModel(kind="fixed", bps=1.0)},
            "walk of the book",
        ),
        (
            {"execution": "synthetic_book", "fill": "close", "book": SyntheticBook(latency_ms=5)},
            "next_open",
        ),
        ({"book": SyntheticBook(spread_bps=3.0)}, "synthetic_book' only"),
        ({"execution": "quotes"}, "one of bars, synthetic_book, recorded_book"),
    ],
)
def test_config_refusals(kw: dict, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        ArbitrageConfig(**kw)


@pytest.mark.parametrize(
    ("book", "field"),
    [
        ({"spread_bps": -1.0}, "book.spread_bps"),
        ({"levels": 0}, "book.levels"),
        ({"level_step_bps": 0.0}, "book.level_step_bps"),
        ({"depth_share": 0.0}, "book.depth_share"),
        ({"latency_ms": -1}, "book.latency_ms"),
        ({"levels": 900, "level_step_bps": 20.0}, "book.levels"),
    ],
)
def test_bad_book_settings(book: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        SyntheticBook(**book)
    assert err.value.field == field


ARB = {
    "strategy": "threshold_arb",
    "series": ["binance:BTC/USDC:1m", "coinbase:BTC/USDC:1m"],
    "start": "2024-01-01",
    "end": "2024-01-02",
}


def test_request_names_the_execution_model() -> None:
    valid = validate_request(
        decode_request({**ARB, "execution": "synthetic_book", "book": {"spread_bps": 3}})
    )
    cfg = valid.arbitrage_config()
    assert cfg.execution == "synthetic_book"
    assert cfg.book.spread_bps == 3.0
    assert validate_request(decode_request(ARB)).arbitrage_config().execution == "bars"
    encoded = msgspec.json.decode(msgspec.json.encode(valid.request))
    assert encoded["execution"] == "synthetic_book"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"execution": "quotes"}, "execution"),
        ({"execution": "recorded_book", "book": {"spread_bps": 3}}, "book"),
        ({"execution": "recorded_quotes", "slippage": {"kind": "fixed", "bps": 2}}, "slippage"),
        ({"execution": "bars", "latency_ms": 50}, "latency_ms"),
        ({"execution": "recorded_book", "latency_ms": -1}, "latency_ms"),
        ({"execution": "recorded_book", "latency_ms": 50, "fill": "close"}, "latency_ms"),
        (
            {"execution": "synthetic_book", "latency_ms": 50, "book": {"latency_ms": 20}},
            "latency_ms",
        ),
        ({"execution": "synthetic_book", "book": {"depth": 3}}, "book"),
        ({"execution": "synthetic_book", "book": {"levels": 0}}, "book.levels"),
        ({"execution": "synthetic_book", "slippage": {"kind": "fixed", "bps": 2}}, "slippage"),
    ],
)
def test_bad_execution_requests_are_refused(extra: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_request(decode_request({**ARB, **extra}))
    assert err.value.field is not None
    assert err.value.field.startswith(field)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    depth=st.floats(0.001, 0.2),
    spread=st.floats(0.0, 20.0),
    qty=st.floats(0.1, 20.0),
    lot=st.sampled_from([0.0, 0.01]),
    latency=st.sampled_from([0, 30_000, 120_000]),
)
def test_book_runs_keep_the_books_and_the_attribution_exact(
    seed: int, depth: float, spread: float, qty: float, lot: float, latency: int
) -> None:
    """Random two-venue paths and volumes, thin to deep books: balances never go negative,
    equity is the sum of its parts, the attribution adds up, and legs either match or
    are failed legs."""
    rng = np.random.default_rng(seed)
    n = 120
    base = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    other = base * np.exp(rng.normal(0, 0.004, n))
    vol_a, vol_b = rng.gamma(1.0, 20.0, n), rng.gamma(1.0, 5.0, n)
    m = AlignedMarket.align(
        [
            venue("binance", "BTC/USD", list(base), volume=list(vol_a), fee_bps=10.0),
            venue("kraken", "BTC/USD", list(other), volume=list(vol_b), fee_bps=10.0),
        ]
    )
    cfg = ArbitrageConfig(
        capital=100_000.0,
        execution="synthetic_book",
        book=SyntheticBook(spread_bps=spread, depth_share=depth, latency_ms=latency),
        lot_size=lot,
        volume_window=5,
        min_notional=0.0,
        transfer_delay_bars=3,
    )
    cheap = np.where(base <= other, 0, 1)
    k = np.arange(n - 1, dtype=np.int64)
    decisions = CrossDecisions(
        bar=k, buy=cheap[:-1], sell=1 - cheap[:-1], net_ok=np.ones(k.size, dtype=bool), max_qty=qty
    )
    crosses = execute_crosses(m, cfg, decisions)
    pairs = execute_pairs(
        m,
        cfg,
        pair_decisions(m, StatArbParams(lookback=10, z_in=1.0, z_out=0.2, max_hold=5, qty=qty)),
    )
    for result in (crosses, pairs):
        assert result.synthetic
        check_identities(m, result)
        f = legs(result)
        assert set(f["purpose"].unique().to_list()) <= {
            "arbitrage",
            "open",
            "close",
            "failed_leg",
            "rebalance",
            "kill_switch",
        }
        matched = f.filter(pl.col("trade_id") >= 0)
        per_trade = matched.group_by("trade_id", "purpose", "bar").agg(
            (pl.when(pl.col("side") == "buy").then(pl.col("qty")).otherwise(-pl.col("qty")))
            .sum()
            .alias("net")
        )
        assert (per_trade["net"].abs() <= 1e-9).all()  # the matched legs are equal
        if lot:
            q = f.filter(pl.col("purpose") != "rebalance")["qty"].to_numpy()
            np.testing.assert_allclose(q / lot, np.round(q / lot), atol=1e-6)


def recorded(ask_qty: float = 10.0, bid_qty: float = 10.0) -> RecordedBooks:
    """binance asks 100.05 (then 100.50 from 30 s into minute 1); kraken bids 100.90."""
    a, b = "binance:BTC/USD", "kraken:BTC/USD"
    return RecordedBooks(
        {
            a: BookReplay(
                a,
                [
                    BookSnapshot(a, 1, [(99.95, 10.0)], [(100.05, ask_qty)], ts=T0),
                    BookDiff(a, 2, asks=[(100.05, 0.0), (100.5, ask_qty)], ts=T0 + 90_000),
                ],
            ),
            b: BookReplay(b, [BookSnapshot(b, 1, [(100.9, bid_qty)], [(101.1, 10.0)], ts=T0)]),
        }
    )


def recorded_config(latency_ms: int = 0) -> ArbitrageConfig:
    return ArbitrageConfig(
        capital=100_000.0,
        execution="recorded_book",
        book=SyntheticBook(latency_ms=latency_ms),
        **NO_REBALANCE,  # type: ignore[arg-type]
    )


def test_legs_fill_on_recorded_books_at_the_fill_instant_plus_latency() -> None:
    m = market()
    decide = always(m, 0, 1, 1, 2.0)  # decided at bar 0, fills at the open of bar 1
    now = execute_crosses(m, recorded_config(), decide, recorded())
    assert (now.execution, now.synthetic) == ("recorded_book", False)
    assert any("recorded order books" in n for n in now.notes)
    f = legs(now)
    assert f.filter(pl.col("side") == "buy")["price"].to_list() == [100.05]
    assert f.filter(pl.col("side") == "sell")["price"].to_list() == [100.9]
    a = now.attribution
    assert a is not None
    # the spread is between the recorded mids; the half-spreads are slippage
    assert a.spread == pytest.approx(2.0 * ((100.9 + 101.1) / 2 - (99.95 + 100.05) / 2))
    check_identities(m, now)
    # 30 s later the recorded ask has moved to 100.50
    late = execute_crosses(m, recorded_config(latency_ms=30_000), decide, recorded())
    assert legs(late).filter(pl.col("side") == "buy")["price"].to_list() == [100.5]


def test_a_recorded_book_without_depth_leaves_a_failed_leg() -> None:
    m = market()
    result = execute_crosses(m, recorded_config(), always(m, 0, 1, 1, 2.0), recorded(bid_qty=0.5))
    failed = legs(result).filter(pl.col("purpose") == "failed_leg")
    assert failed["side"].to_list() == ["buy"]
    assert failed["qty"].to_list() == [1.5]
    check_identities(m, result)


def test_recorded_books_and_the_execution_go_together() -> None:
    m = market()
    with pytest.raises(InvalidInput, match="recorded_book"):
        execute_crosses(m, recorded_config(), always(m, 0, 1, 1, 1.0))
    with pytest.raises(InvalidInput, match="recorded_book"):
        execute_crosses(m, config(), always(m, 0, 1, 1, 1.0), recorded())
    partial = RecordedBooks({"binance:BTC/USD": recorded().replays["binance:BTC/USD"]})
    with pytest.raises(InvalidInput, match="no recorded book for kraken:BTC/USD"):
        execute_crosses(m, recorded_config(), always(m, 0, 1, 1, 1.0), partial)
