"""The live spread monitor: net spreads after fees from best bid/ask, and opportunities."""

from __future__ import annotations

import pytest

from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol
from arbx.domain.market.books import Quote
from arbx.domain.market.trades import TradeKey
from arbx.domain.streams.spreads import SpreadLeg, SpreadMonitor, SpreadPair

BTC_USDC = Symbol.parse("BTC/USDC")
BTC_USD = Symbol.parse("BTC/USD")
T0 = 1_700_000_000_000_000
S = 1_000_000
FEES = {"binance": FeeSchedule(taker_bps=10.0), "coinbase": FeeSchedule(taker_bps=60.0)}


def q(venue: str, ts: int, bid: float, ask: float, symbol: Symbol = BTC_USDC) -> Quote:
    return Quote(TradeKey(venue, symbol), ts, bid, 1.0, ask, 1.0)


def usdc_pair(threshold: float = 0.0, max_age_ms: int = 5_000) -> SpreadPair:
    legs = (SpreadLeg("binance", BTC_USDC), SpreadLeg("coinbase", BTC_USDC))
    return SpreadPair("btc-usdc", legs, threshold_bps=threshold, max_age_ms=max_age_ms)


def test_net_spread_is_gross_less_both_taker_fees_as_the_backtest_defines_it() -> None:
    monitor = SpreadMonitor([usdc_pair()], FEES)
    assert monitor.update([q("binance", T0, 100.0, 100.01)]) == []
    events = monitor.update([q("coinbase", T0 + 10, 101.0, 101.1)])
    assert [(e.kind, e.buy, e.sell) for e in events] == [
        ("opened", "binance:BTC/USDC", "coinbase:BTC/USDC")
    ]
    views = {(v.buy, v.sell): v for v in monitor.current()}
    there = views[("binance:BTC/USDC", "coinbase:BTC/USDC")]
    assert there.gross_bps == pytest.approx((101.0 / 100.01 - 1) * 1e4)
    assert there.net_bps == pytest.approx(there.gross_bps - 70.0)
    back = views[("coinbase:BTC/USDC", "binance:BTC/USDC")]
    assert back.net_bps == pytest.approx((100.0 / 101.1 - 1) * 1e4 - 70.0)
    assert back.open_since_us is None
    assert there.open_since_us == T0 + 10


def test_an_opportunity_records_start_duration_peak_and_time_weighted_mean() -> None:
    monitor = SpreadMonitor([usdc_pair()], {"binance": FeeSchedule(), "coinbase": FeeSchedule()})
    monitor.update([q("binance", T0, 99.0, 100.0)])
    monitor.update([q("coinbase", T0, 100.1, 100.2)])  # net +10 bps from T0
    monitor.update([q("coinbase", T0 + 1 * S, 100.3, 100.4)])  # +30 bps for 3 s
    closed = monitor.update([q("coinbase", T0 + 4 * S, 99.9, 100.0)])  # back below
    (event,) = closed
    opp = event.opportunity
    assert opp is not None
    assert event.kind == "closed"
    assert (opp.start_us, opp.end_us, opp.duration_ms) == (T0, T0 + 4 * S, 4000.0)
    assert opp.peak_net_bps == pytest.approx(30.0)
    assert opp.mean_net_bps == pytest.approx((10.0 * 1 + 30.0 * 3) / 4)
    assert (opp.updates, opp.reason) == (2, "below_threshold")
    assert event.net_bps == pytest.approx(-10.0)  # the spread that closed it (alerts resolve)
    assert opp.start.year == 2023


def test_a_threshold_keeps_small_spreads_out() -> None:
    monitor = SpreadMonitor([usdc_pair(threshold=15.0)], {})
    monitor.update([q("binance", T0, 99.0, 100.0)])
    assert monitor.update([q("coinbase", T0, 100.1, 100.2)]) == []  # 10 bps - 70 fees


def test_a_quote_older_than_max_age_ends_the_opportunity_as_stale() -> None:
    monitor = SpreadMonitor([usdc_pair(max_age_ms=1000)], {"binance": FeeSchedule()})
    monitor.update([q("binance", T0, 99.0, 100.0)])
    monitor.update([q("coinbase", T0, 101.0, 101.1)])
    assert monitor.expire(T0 + 500_000) == []
    (event,) = monitor.expire(T0 + 2 * S)
    assert event.opportunity is not None
    assert (event.opportunity.reason, event.opportunity.end_us) == ("stale", T0 + 2 * S)
    assert monitor.stop() == []


def test_a_leg_converted_by_a_live_rate_compares_usdc_with_usd() -> None:
    usdc_usd = TradeKey("kraken", Symbol.parse("USDC/USD"))
    pair = SpreadPair(
        "btc-usd",
        (SpreadLeg("kraken", BTC_USDC, convert=usdc_usd), SpreadLeg("coinbase", BTC_USD)),
    )
    monitor = SpreadMonitor([pair], {"kraken": FeeSchedule(), "coinbase": FeeSchedule()})
    monitor.update([q("kraken", T0, 100.0, 100.0 + 1e-6)])
    monitor.update([q("coinbase", T0, 99.0, 99.01, BTC_USD)])
    assert monitor.current() == []  # no rate yet: nothing to compare
    events = monitor.update([q("kraken", T0, 0.979, 0.981, Symbol.parse("USDC/USD"))])
    views = {v.buy: v for v in monitor.current()}
    buy_kraken = views["kraken:BTC/USDC"]
    assert buy_kraken.ask == pytest.approx(100.0 * 0.98, rel=1e-6)  # in USD
    assert buy_kraken.gross_bps == pytest.approx((99.0 / 98.0 - 1) * 1e4, rel=1e-5)
    assert [e.kind for e in events] == ["opened"]


def test_stop_closes_what_stands() -> None:
    monitor = SpreadMonitor([usdc_pair()], {})
    monitor.update([q("binance", T0, 99.0, 100.0), q("coinbase", T0 + S, 102.0, 102.1)])
    (event,) = monitor.stop(T0 + 3 * S)
    assert event.opportunity is not None
    assert (event.opportunity.reason, event.opportunity.duration_ms) == ("stopped", 2000.0)


@pytest.mark.parametrize(
    ("legs", "message"),
    [
        ((SpreadLeg("binance", BTC_USDC),), "two legs"),
        ((SpreadLeg("binance", BTC_USDC), SpreadLeg("binance", BTC_USDC)), "twice"),
        ((SpreadLeg("binance", BTC_USDC), SpreadLeg("kraken", Symbol.parse("ETH/USDC"))), "bases"),
        ((SpreadLeg("binance", BTC_USDC), SpreadLeg("coinbase", BTC_USD)), "convert them"),
        (
            (
                SpreadLeg("binance", BTC_USDC, convert=TradeKey("kraken", Symbol.parse("EUR/USD"))),
                SpreadLeg("coinbase", BTC_USD),
            ),
            "whose base is not USDC",
        ),
    ],
)
def test_a_pair_that_cannot_be_compared_is_refused(
    legs: tuple[SpreadLeg, ...], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        SpreadPair("p", legs)
