"""The matching engine: order types, self-trade prevention, replace, and bad input."""

from __future__ import annotations

import math

import pytest

from arbx.domain.orderbook.engine import (
    Accepted,
    Cancelled,
    Fill,
    Instrument,
    LevelChanged,
    MatchingEngine,
    Replaced,
    Rested,
    Submit,
)
from arbx.domain.orderbook.errors import (
    DuplicateOrder,
    InvalidOrder,
    UnknownInstrument,
    UnknownOrder,
)

BTC = Instrument("BTC/USDC", tick_size=0.5, lot_size=0.001)


def engine() -> MatchingEngine:
    return MatchingEngine([BTC, Instrument("ETH/USDC", 0.01, 0.01)])


def limit(oid: int, side: str, qty: float, price: float, **kw: object) -> Submit:
    return Submit(oid, "BTC/USDC", side, qty, price, **kw)  # type: ignore[arg-type]


def fills(events: list) -> list[tuple[int, int, float, float]]:
    return [(e.taker, e.maker, e.price, e.qty) for e in events if isinstance(e, Fill)]


def cancels(events: list) -> list[tuple[int, str]]:
    return [(e.order_id, e.reason) for e in events if isinstance(e, Cancelled)]


def test_limit_rests_then_trades_in_price_time_order() -> None:
    e = engine()
    ev = e.submit(limit(1, "sell", 1.0, 101.0))
    assert ev == [
        Accepted(1, "BTC/USDC", "sell", 1.0, 101.0),
        Rested(1, "BTC/USDC", "sell", 101.0, 1.0),
        LevelChanged("BTC/USDC", "sell", 101.0, 1.0),
    ]
    e.submit(limit(2, "sell", 1.0, 100.5))
    e.submit(limit(3, "sell", 2.0, 100.5))
    ev = e.submit(limit(4, "buy", 2.5, 101.0))
    # best price first (100.5), oldest first there (2 then 3), at the makers' price
    assert fills(ev) == [(4, 2, 100.5, 1.0), (4, 3, 100.5, 1.5)]
    assert e.l3("BTC/USDC")["sell"] == [(100.5, [(3, 0.5)]), (101.0, [(1, 1.0)])]
    assert e.l2("BTC/USDC") == ([], [(100.5, 0.5), (101.0, 1.0)])
    assert e.best("BTC/USDC") == (None, 100.5)


def test_partial_fill_rests_the_rest() -> None:
    e = engine()
    e.submit(limit(1, "sell", 1.0, 100.0))
    ev = e.submit(limit(2, "buy", 3.0, 100.5))
    assert fills(ev) == [(2, 1, 100.0, 1.0)]
    assert Rested(2, "BTC/USDC", "buy", 100.5, 2.0) in ev
    assert e.best("BTC/USDC") == (100.5, None)


def test_market_ioc_and_fok() -> None:
    e = engine()
    e.submit(limit(1, "sell", 1.0, 100.0))
    e.submit(limit(2, "sell", 1.0, 101.0))
    ev = e.submit(Submit(3, "BTC/USDC", "buy", 3.0, kind="market"))
    assert fills(ev) == [(3, 1, 100.0, 1.0), (3, 2, 101.0, 1.0)]
    assert cancels(ev) == [(3, "no_liquidity")]
    e.submit(limit(4, "sell", 1.0, 100.0))
    e.submit(limit(5, "sell", 1.0, 102.0))
    ev = e.submit(limit(6, "buy", 2.0, 101.0, tif="fok"))
    assert fills(ev) == []
    assert cancels(ev) == [(6, "fok_unfillable")]
    ev = e.submit(limit(7, "buy", 2.0, 102.0, tif="fok"))
    assert [f[3] for f in fills(ev)] == [1.0, 1.0]
    e.submit(limit(8, "sell", 1.0, 100.0))
    ev = e.submit(limit(9, "buy", 1.5, 100.0, tif="ioc"))
    assert fills(ev) == [(9, 8, 100.0, 1.0)]
    assert cancels(ev) == [(9, "ioc_remainder")]
    assert e.l2("BTC/USDC") == ([], [])


def test_post_only() -> None:
    e = engine()
    e.submit(limit(1, "sell", 1.0, 100.0))
    ev = e.submit(limit(2, "buy", 1.0, 100.0, post_only=True))
    assert cancels(ev) == [(2, "post_only_would_cross")]
    assert fills(ev) == []
    ev = e.submit(limit(3, "buy", 1.0, 99.5, post_only=True))
    assert Rested(3, "BTC/USDC", "buy", 99.5, 1.0) in ev


@pytest.mark.parametrize(
    ("stp", "taker_fill", "maker_left", "reasons"),
    [
        ("cancel_taker", [], [(1, 1.0), (2, 1.0)], [(3, "self_trade")]),
        ("cancel_maker", [(3, 2, 100.0, 1.0)], [], [(1, "self_trade")]),
        ("cancel_both", [], [(2, 1.0)], [(1, "self_trade"), (3, "self_trade")]),
    ],
)
def test_self_trade_prevention(stp: str, taker_fill: list, maker_left: list, reasons: list) -> None:
    e = engine()
    e.submit(limit(1, "sell", 1.0, 100.0, owner="alice"))
    e.submit(limit(2, "sell", 1.0, 100.0, owner="bob"))
    ev = e.submit(limit(3, "buy", 1.0, 100.0, owner="alice", stp=stp))
    assert fills(ev) == taker_fill
    assert cancels(ev) == reasons
    levels = e.l3("BTC/USDC")["sell"]
    assert (levels[0][1] if levels else []) == maker_left
    assert e.l3("BTC/USDC")["buy"] == []


def test_fok_counts_only_what_self_trade_prevention_lets_fill() -> None:
    e = engine()
    e.submit(limit(1, "sell", 1.0, 100.0, owner="alice"))
    e.submit(limit(2, "sell", 1.0, 100.0, owner="bob"))
    # cancel_taker would stop at alice's own order: nothing may fill
    ev = e.submit(limit(3, "buy", 1.0, 100.0, owner="alice", tif="fok"))
    assert cancels(ev) == [(3, "fok_unfillable")]
    assert len(e.open_orders("BTC/USDC")) == 2


def test_cancel_and_replace() -> None:
    e = engine()
    e.submit(limit(1, "buy", 1.0, 99.0))
    e.submit(limit(2, "buy", 1.0, 99.0))
    # a reduction keeps the place in the queue
    ev = e.replace("BTC/USDC", 1, None, 0.4)
    assert ev == [
        Replaced(1, "BTC/USDC", 99.0, 0.4, True),
        LevelChanged("BTC/USDC", "buy", 99.0, 1.4),
    ]
    assert e.l3("BTC/USDC")["buy"] == [(99.0, [(1, 0.4), (2, 1.0)])]
    # an increase goes to the back
    ev = e.replace("BTC/USDC", 1, None, 2.0)
    assert cancels(ev) == [(1, "replaced")]
    assert e.l3("BTC/USDC")["buy"] == [(99.0, [(2, 1.0), (1, 2.0)])]
    # a new price that crosses trades
    e.submit(limit(3, "sell", 1.0, 100.0))
    ev = e.replace("BTC/USDC", 2, 100.0, None)
    assert fills(ev) == [(2, 3, 100.0, 1.0)]
    ev = e.cancel("BTC/USDC", 1)
    assert ev == [
        Cancelled(1, "BTC/USDC", 2.0, "user"),
        LevelChanged("BTC/USDC", "buy", 99.0, 0.0),
    ]
    assert e.l2("BTC/USDC") == ([], [])
    with pytest.raises(UnknownOrder):
        e.cancel("BTC/USDC", 1)
    with pytest.raises(UnknownOrder):
        e.replace("BTC/USDC", 99, 1.0, None)


def test_cancelled_order_is_skipped_by_matching() -> None:
    e = engine()
    e.submit(limit(1, "sell", 1.0, 100.0))
    e.submit(limit(2, "sell", 1.0, 100.0))
    e.cancel("BTC/USDC", 1)
    ev = e.submit(limit(3, "buy", 1.0, 100.0))
    assert fills(ev) == [(3, 2, 100.0, 1.0)]
    # the id of a finished order may be used again
    e.submit(limit(1, "buy", 1.0, 90.0))
    assert e.open_orders("BTC/USDC") == [1]


@pytest.mark.parametrize(
    ("order", "match"),
    [
        (limit(1, "buy", 0.0, 100.0), "positive"),
        (limit(1, "buy", -1.0, 100.0), "positive"),
        (limit(1, "buy", math.nan, 100.0), "positive"),
        (limit(1, "buy", 0.0015, 100.0), "multiple of 0.001"),
        (limit(1, "buy", 1.0, 100.2), "multiple of 0.5"),
        (limit(1, "buy", 1.0, -100.0), "positive price"),
        (limit(1, "buy", 1.0, None), "positive price"),
        (Submit(1, "BTC/USDC", "buy", 1.0, 100.0, kind="market"), "no price"),
        (Submit(1, "BTC/USDC", "buy", 1.0, kind="market", post_only=True), "post-only"),
        (limit(1, "buy", 1.0, 100.0, post_only=True, tif="ioc"), "gtc"),
        (limit(1, "hold", 1.0, 100.0), "side"),
        (limit(1, "buy", 1.0, 100.0, tif="day"), "tif must be one of"),
        (limit(1, "buy", 1.0, 100.0, stp="allow"), "stp one of"),
    ],
)
def test_bad_orders_are_refused_and_change_nothing(order: Submit, match: str) -> None:
    e = engine()
    e.submit(limit(9, "sell", 1.0, 100.0))
    with pytest.raises(InvalidOrder, match=match):
        e.submit(order)
    assert e.l3("BTC/USDC")["sell"] == [(100.0, [(9, 1.0)])]
    assert e.l3("BTC/USDC")["buy"] == []


def test_unknown_instrument_and_duplicate_id() -> None:
    e = engine()
    with pytest.raises(UnknownInstrument, match="known: BTC/USDC, ETH/USDC"):
        e.submit(Submit(1, "DOGE/USDC", "buy", 1.0, 1.0))
    e.submit(limit(1, "buy", 1.0, 90.0))
    with pytest.raises(DuplicateOrder):
        e.submit(limit(1, "buy", 1.0, 90.0))
    with pytest.raises(InvalidOrder, match="tick_size"):
        Instrument("X", 0.0, 1.0)


def test_instruments_are_separate_books() -> None:
    e = engine()
    e.submit(Submit(1, "ETH/USDC", "sell", 1.0, 10.0))
    ev = e.submit(limit(2, "buy", 1.0, 100.0))
    assert fills(ev) == []
    assert e.l2("ETH/USDC") == ([], [(10.0, 1.0)])
