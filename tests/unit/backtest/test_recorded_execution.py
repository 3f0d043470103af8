"""Backtests that fill on recorded books and quotes (and single-market synthetic books):
single-market market orders walking the book, arbitrage legs on recorded streams through
the runner, latency, failed legs, no look-ahead and exact attribution."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbx.domain.backtest.arbitrage import (
    AlignedMarket,
    ArbitrageConfig,
    CrossDecisions,
    RecordedBooks,
    execute_crosses,
    execute_pairs,
)
from arbx.domain.backtest.book_taker import RecordedTakerBooks, SyntheticTakerBooks
from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.backtest.events import RiskRules, run_events
from arbx.domain.backtest.execution import BarArrays, Execution
from arbx.domain.backtest.recorded import (
    check_recorded,
    describe_recorded,
    quote_updates,
    replays,
)
from arbx.domain.backtest.request import decode_request, validate_request
from arbx.domain.backtest.runner import run
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey
from arbx.domain.market.books import Quote, book_frame, empty_book, empty_quotes, quotes_frame
from arbx.domain.market.trades import TradeKey
from arbx.domain.orderbook.book import BookDiff, BookSnapshot
from arbx.domain.orderbook.synthetic import SyntheticBook
from arbx.domain.orderbook.tape import BookReplay
from arbx.domain.strategies.arbitrage import StatArbParams, pair_decisions
from tests.unit.backtest.arb_builders import T0, venue
from tests.unit.backtest.helpers import arrays
from tests.unit.backtest.test_arbitrage import check_identities

MIN = 60_000
LABEL = "binance:BTC/USDC"
FREE = Execution(capital=1_000.0, fees=FeeSchedule(taker_bps=0.0, maker_bps=0.0))


def bars(n: int = 6, price: float = 100.0) -> BarArrays:
    b = arrays([price] * n)
    assert int(b.ts[0]) == T0
    return b


def target(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def taker(
    b: BarArrays, updates: list[BookSnapshot | BookDiff], latency: int = 0, ex: Execution = FREE
) -> RecordedTakerBooks:
    return RecordedTakerBooks(b, BookReplay(LABEL, updates), ex, latency, "recorded_book")


def snap(seq: int, ts: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]]):  # type: ignore[no-untyped-def]
    return BookSnapshot(LABEL, seq, bids, asks, ts=ts)


# -- single-market: market orders walk the recorded book -----------------------------------------


def test_a_signal_buy_walks_the_asks_and_the_sell_takes_the_bids() -> None:
    b = bars()
    book = [snap(1, T0, [(99.5, 100.0)], [(100.5, 3.0), (101.0, 100.0)])]
    result = run_events(b, FREE, target=target(1, 1, 1, 0, 0, 0), books=taker(b, book))
    assert (result.execution, result.synthetic) == ("recorded_book", False)
    assert any("walking recorded order books" in n for n in result.notes)
    fills = result.fills
    assert fills["bar"].to_list() == [1, 4]  # decided at 0 and 3, filled at the next open
    buy, sell = fills.row(0, named=True), fills.row(1, named=True)
    # 1000 buys 3 at 100.5 (301.5) and 698.5 / 101 at 101
    qty = 3.0 + (1_000.0 - 301.5) / 101.0
    assert buy["qty"] == pytest.approx(qty)
    assert buy["price"] == pytest.approx(1_000.0 / qty)
    assert sell["qty"] == pytest.approx(qty)
    assert sell["price"] == pytest.approx(99.5)
    assert result.final_equity == pytest.approx(qty * 99.5)
    assert result.trades["pnl"][0] == pytest.approx(qty * 99.5 - 1_000.0)


def test_latency_moves_the_fill_to_the_book_recorded_later() -> None:
    b = bars()
    book = [
        snap(1, T0, [(99.5, 100.0)], [(100.5, 100.0)]),
        BookDiff(LABEL, 2, asks=[(100.5, 0.0), (102.0, 100.0)], ts=T0 + MIN + 30_000),
    ]
    sig = target(1, 1, 1, 1, 1, 1)
    now = run_events(b, FREE, target=sig, books=taker(b, book))
    late = run_events(b, FREE, target=sig, books=taker(b, book, latency=30_000))
    just_before = run_events(b, FREE, target=sig, books=taker(b, book, latency=29_999))
    assert now.fills["price"].to_list() == [100.5]
    assert late.fills["price"].to_list() == [102.0]  # stamped at the instant: applied
    assert just_before.fills["price"].to_list() == [100.5]
    assert late.fills["bar"].to_list() == [1]


def test_a_sell_the_bids_cannot_take_stays_pending_for_the_next_book() -> None:
    b = bars()
    book = [
        snap(1, T0, [(99.5, 100.0)], [(100.0, 100.0)]),
        # from minute 2 the bids hold only 4; from minute 4 they are deep again
        BookDiff(LABEL, 2, bids=[(99.5, 4.0)], ts=T0 + 2 * MIN),
        BookDiff(LABEL, 3, bids=[(99.0, 100.0)], ts=T0 + 4 * MIN),
    ]
    result = run_events(b, FREE, target=target(1, 0, 0, 0, 0, 0), books=taker(b, book))
    sells = result.fills.filter(pl.col("side") == "sell")
    assert sells["bar"].to_list() == [2, 3, 4]
    assert sells["qty"].to_list()[:2] == [pytest.approx(4.0), pytest.approx(4.0)]
    assert sells["qty"].sum() == pytest.approx(10.0)
    assert any("2 market-order attempt(s)" in n for n in result.notes)
    assert result.curve["position"][-1] == 0.0


def test_nothing_fills_before_the_first_snapshot_or_on_an_empty_side() -> None:
    b = bars()
    book = [snap(1, T0 + 3 * MIN, [(99.0, 5.0)], [(100.0, 5.0)])]
    result = run_events(b, FREE, target=target(1, 1, 1, 1, 1, 1), books=taker(b, book))
    assert result.fills["bar"].to_list() == [3]  # tried at 1 and 2 on an empty book
    assert result.fills["qty"].to_list() == [pytest.approx(5.0)]  # the asks hold 5


def test_limit_orders_and_bar_risk_exits_are_refused_on_books() -> None:
    b = bars()
    book = [snap(1, T0, [(99.0, 5.0)], [(100.0, 5.0)])]

    class Limit:
        def on_bar(self, ctx):  # type: ignore[no-untyped-def]
            ctx.buy(1.0, kind="limit", limit=99.0)

    with pytest.raises(InvalidInput) as err:
        run_events(b, FREE, strategy=Limit(), books=taker(b, book))
    assert err.value.field == "execution"
    with pytest.raises(InvalidInput) as err:
        run_events(
            b, FREE, target=target(1, 1, 1, 1, 1, 1), books=taker(b, book), risk=RiskRules(0.1)
        )
    assert err.value.field == "risk.stop_loss"


def test_recorded_quotes_are_a_one_level_book() -> None:
    b = bars()
    key = TradeKey("binance", SeriesKey.parse("binance:BTC/USDC:1m").symbol)
    quotes = quotes_frame(
        [
            Quote(key, T0 * 1000, 99.9, 1.0, 100.1, 2.0),
            Quote(key, (T0 + MIN + 1) * 1000, 99.8, 1.0, 100.2, 0.0),  # no ask size
        ]
    )
    updates = quote_updates(quotes, LABEL)
    assert [u.sequence for u in updates] == [1, 2]
    assert updates[1].asks == []
    books = RecordedTakerBooks(b, BookReplay(LABEL, updates), FREE, 0, "recorded_quotes")
    result = run_events(b, FREE, target=target(1, 1, 1, 1, 1, 1), books=books)
    assert result.fills["qty"].to_list() == [pytest.approx(2.0)]  # only the quoted size
    assert result.fills["price"].to_list() == [100.1]
    assert result.execution == "recorded_quotes"
    assert any("recorded quotes" in n for n in result.notes)


def test_synthetic_books_for_single_market_runs_are_flagged() -> None:
    b = arrays([100.0] * 6, volume=[100.0] * 6)
    model = SyntheticBook(spread_bps=10.0, levels=2, depth_share=1.0)
    books = SyntheticTakerBooks(b, model, FREE)
    result = run_events(b, FREE, target=target(1, 1, 1, 1, 1, 1), books=books)
    assert (result.execution, result.synthetic) == ("synthetic_book", True)
    assert any(n.startswith("SYNTHETIC order books") for n in result.notes)
    # the touch sits 5 bps above the open of the fill bar; 1000 buys ~9.99 there (100 held)
    assert result.fills["price"][0] == pytest.approx(100.0 * (1 + 5e-4))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    cut=st.integers(1, 10),
    latency=st.sampled_from([0, 1, 15_000, 59_999]),
)
def test_single_market_fills_never_see_the_book_after_their_instant(
    seed: int, cut: int, latency: int
) -> None:
    """Perturb every recorded update stamped after bar ``cut``'s fill instant: the fills up
    to bar ``cut`` do not change."""
    rng = np.random.default_rng(seed)
    n = 12
    b = arrays(list(100 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))))
    sig = (rng.random(n) > 0.5).astype(np.float64)
    ex = Execution(capital=1_000.0, fees=FeeSchedule(taker_bps=10.0))

    def tape(rng: np.random.Generator) -> list[BookSnapshot | BookDiff]:
        out: list[BookSnapshot | BookDiff] = []
        for i, ts in enumerate(range(T0, T0 + n * MIN, 7_500)):
            mid = 100 * float(np.exp(rng.normal(0, 0.01)))
            sizes = rng.gamma(1.0, 2.0, 6) + 0.01
            bids = [(mid * (1 - 1e-4 * (k + 1)), float(sizes[k])) for k in range(3)]
            asks = [(mid * (1 + 1e-4 * (k + 1)), float(sizes[3 + k])) for k in range(3)]
            out.append(snap(i + 1, ts, bids, asks))
        return out

    base = tape(rng)
    instant = int(b.ts[cut]) + latency
    later = tape(np.random.default_rng(seed + 1))
    perturbed = [u if u.ts <= instant else later[i] for i, u in enumerate(base)]
    one = run_events(b, ex, target=sig, books=taker(b, base, latency, ex)).fills
    two = run_events(b, ex, target=sig, books=taker(b, perturbed, latency, ex)).fills
    keep = pl.col("bar") <= cut
    assert one.filter(keep).equals(two.filter(keep))


# -- requests and the runner ----------------------------------------------------------------------

START = datetime.fromtimestamp(T0 / 1000, UTC)


def bar_frame(prices: list[float], volume: float = 1e6) -> pl.DataFrame:
    ts = [datetime.fromtimestamp((T0 + i * MIN) / 1000, UTC) for i in range(len(prices))]
    return pl.DataFrame(
        {
            "ts": pl.Series(ts, dtype=pl.Datetime("ms", "UTC")),
            "open": prices,
            "high": prices,
            "low": prices,
            "close": prices,
            "volume": [volume] * len(prices),
        }
    )


def arb_request(**change: object):  # type: ignore[no-untyped-def]
    body = {
        "strategy": "threshold_arb",
        "params": {"threshold_bps": 10.0, "max_qty": 2.0},
        "series": ["binance:BTC/USD:1m", "kraken:BTC/USD:1m"],
        "start": START.isoformat(),
        "end": datetime.fromtimestamp((T0 + 10 * MIN) / 1000, UTC).isoformat(),
        "fees": {"binance": {"taker_bps": 0}, "kraken": {"taker_bps": 0}},
        "arbitrage": {"rebalance_trigger": 0.0, "min_notional": 0.0},
        "capital": 100_000.0,
        **change,
    }
    return validate_request(decode_request(body))


A, K = SeriesKey.parse("binance:BTC/USD:1m"), SeriesKey.parse("kraken:BTC/USD:1m")


def arb_books(kraken_bid_qty: float = 10.0) -> dict[SeriesKey, pl.DataFrame]:
    a, k = "binance:BTC/USD", "kraken:BTC/USD"
    return {
        A: book_frame([BookSnapshot(a, 1, [(99.95, 10.0)], [(100.05, 10.0)], ts=T0)]),
        K: book_frame([BookSnapshot(k, 1, [(100.9, kraken_bid_qty)], [(101.1, 10.0)], ts=T0)]),
    }


def test_the_runner_fills_arbitrage_legs_on_recorded_books() -> None:
    valid = arb_request(execution="recorded_book", latency_ms=50)
    bars_ = {A: bar_frame([100.0] * 6), K: bar_frame([101.0] * 6)}
    result = run(valid, bars_, arb_books())
    assert (result.execution, result.synthetic) == ("recorded_book", False)
    legs = result.fills.filter(pl.col("purpose") == "arbitrage")
    assert set(legs.filter(pl.col("side") == "buy")["price"].to_list()) == {100.05}
    assert set(legs.filter(pl.col("side") == "sell")["price"].to_list()) == {100.9}
    assert any("latency 50 ms" in n for n in result.notes)
    a = result.attribution
    assert a is not None
    assert sum(a.parts().values()) == pytest.approx(a.total_pnl, abs=1e-6)
    # the kraken bids hold 1 BTC: each 2 BTC round trip leaves 1 bought BTC as a failed leg
    thin = run(valid, bars_, arb_books(kraken_bid_qty=1.0))
    failed = thin.fills.filter(pl.col("purpose") == "failed_leg")
    assert failed.height > 0
    assert set(failed["side"].to_list()) == {"buy"}
    assert failed["qty"].to_list() == [pytest.approx(1.0)] * failed.height
    assert any("could not fill in full" in n for n in thin.notes)
    b = thin.attribution
    assert b is not None
    assert sum(b.parts().values()) == pytest.approx(b.total_pnl, abs=1e-6)


def test_the_runner_fills_single_market_runs_on_recorded_quotes() -> None:
    key = SeriesKey.parse("binance:BTC/USDC:1m")
    tk = TradeKey("binance", key.symbol)
    body = {
        "strategy": "buy_and_hold",
        "series": [str(key)],
        "start": START.isoformat(),
        "end": datetime.fromtimestamp((T0 + 10 * MIN) / 1000, UTC).isoformat(),
        "execution": "recorded_quotes",
        "latency_ms": 20,
        "fees": {"binance": {"taker_bps": 0}},
        "min_notional": 0,
        "lot_size": 0,
    }
    valid = validate_request(decode_request(body))
    assert valid.engine == "event"
    quotes = quotes_frame([Quote(tk, T0 * 1000, 99.0, 50.0, 101.0, 50.0)])
    result = run(valid, {key: bar_frame([100.0] * 6)}, {key: quotes})
    assert result.execution == "recorded_quotes"
    assert set(result.fills["price"].to_list()) == {101.0}
    assert result.benchmark is not None  # bought on the same quotes
    assert result.benchmark.final_equity == pytest.approx(result.final_equity)


def test_the_runner_refuses_a_leg_without_recorded_data() -> None:
    valid = arb_request(execution="recorded_book")
    bars_ = {A: bar_frame([100.0] * 6), K: bar_frame([101.0] * 6)}
    with pytest.raises(InvalidInput, match="no recorded order-book updates for kraken") as err:
        run(valid, bars_, {A: arb_books()[A], K: empty_book()})
    assert err.value.field == "execution"
    with pytest.raises(InvalidInput, match="no recorded stream was read") as err:
        run(valid, bars_, {A: arb_books()[A]})
    diffs = book_frame([BookDiff("kraken:BTC/USD", 5, bids=[(100.0, 1.0)], ts=T0)])
    with pytest.raises(InvalidInput, match="no snapshot"):
        run(valid, bars_, {A: arb_books()[A], K: diffs})
    with pytest.raises(InvalidInput, match="no recorded quotes"):
        check_recorded(empty_quotes(), "x:BTC/USD", "recorded_quotes")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"execution": "recorded_book", "engine": "vectorized"}, "engine"),
        ({"execution": "recorded_book", "latency_ms": 60_000}, "latency_ms"),
        ({"execution": "recorded_book", "risk": {"stop_loss": 0.05}}, "risk.stop_loss"),
        ({"execution": "synthetic_book", "book": {"spread_bps": 3}, "latency_ms": 0}, None),
    ],
)
def test_single_market_book_requests(change: dict, field: str | None) -> None:
    body = {
        "strategy": "sma_cross",
        "series": ["binance:BTC/USDC:1m"],
        "start": "2024-01-01",
        "end": "2024-01-02",
        **change,
    }
    if field is None:
        assert validate_request(decode_request(body)).engine == "event"
        return
    with pytest.raises(InvalidInput) as err:
        validate_request(decode_request(body))
    assert err.value.field == field


def test_the_recorded_data_is_named_with_a_hash() -> None:
    frame = arb_books()[A]
    one = describe_recorded(frame, "binance:BTC/USD", "recorded_book")
    assert one.startswith("recorded_book binance:BTC/USD: 2 book rows")
    changed = frame.with_columns(pl.col("qty") * 2)
    assert describe_recorded(changed, "binance:BTC/USD", "recorded_book") != one


# -- arbitrage on recorded books: no look-ahead and exact attribution ------------------------------


def random_tape(
    rng: np.random.Generator, label: str, mid: float, n_minutes: int, step_ms: int
) -> list[BookSnapshot | BookDiff]:
    """A snapshot, then diffs every ``step_ms`` moving the touch and its sizes (some thin)."""
    out: list[BookSnapshot | BookDiff] = []
    seq = 1
    for ts in range(T0, T0 + n_minutes * MIN, step_ms):
        mid *= float(np.exp(rng.normal(0, 0.002)))
        sizes = rng.gamma(0.7, 2.0, 6) + 1e-3
        bids = [(round(mid * (1 - 2e-4 * (k + 1)), 6), float(sizes[k])) for k in range(3)]
        asks = [(round(mid * (1 + 2e-4 * (k + 1)), 6), float(sizes[3 + k])) for k in range(3)]
        out.append(BookSnapshot(label, seq, bids, asks, ts=ts))
        seq += 1
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    cut=st.integers(1, 25),
    # updates every 7.5 s: 14_999 and 44_999 put one a millisecond after a fill instant
    latency=st.sampled_from([0, 1, 14_999, 44_999]),
    qty=st.floats(0.1, 8.0),
)
def test_arbitrage_on_recorded_books_has_no_look_ahead_and_exact_attribution(
    seed: int, cut: int, latency: int, qty: float
) -> None:
    rng = np.random.default_rng(seed)
    n = 30
    pa = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    pk = pa * np.exp(rng.normal(0, 0.004, n))
    m = AlignedMarket.align(
        [
            venue("binance", "BTC/USD", list(pa), fee_bps=10.0),
            venue("kraken", "BTC/USD", list(pk), fee_bps=10.0),
        ]
    )
    cfg = ArbitrageConfig(
        capital=100_000.0,
        execution="recorded_book",
        book=SyntheticBook(latency_ms=latency),
        min_notional=0.0,
        transfer_delay_bars=3,
    )
    tapes = {
        "binance:BTC/USD": random_tape(rng, "binance:BTC/USD", 100.0, n + 2, 7_500),
        "kraken:BTC/USD": random_tape(rng, "kraken:BTC/USD", 100.3, n + 2, 7_500),
    }
    cheap = np.where(pa <= pk, 0, 1)
    k = np.arange(n - 1, dtype=np.int64)
    decisions = CrossDecisions(
        bar=k,
        buy=cheap[:-1].astype(np.int64),
        sell=(1 - cheap[:-1]).astype(np.int64),
        net_ok=np.ones(k.size, dtype=bool),
        max_qty=qty,
    )
    one = execute_crosses(m, cfg, decisions, RecordedBooks(replays(tapes)))
    check_identities(m, one)
    stat = pair_decisions(m, StatArbParams(lookback=5, z_in=1.0, z_out=0.2, max_hold=4, qty=qty))
    check_identities(m, execute_pairs(m, cfg, stat, RecordedBooks(replays(tapes))))
    # perturb everything recorded after the fill instant of bar ``cut``
    instant = int(m.ts[cut]) + latency
    other = np.random.default_rng(seed + 7)
    changed = {
        label: [
            u if u.ts <= instant else new
            for u, new in zip(tape, random_tape(other, label, 120.0, n + 2, 7_500), strict=True)
        ]
        for label, tape in tapes.items()
    }
    two = execute_crosses(m, cfg, decisions, RecordedBooks(replays(changed)))
    keep = pl.col("bar") <= cut
    assert one.fills.filter(keep).equals(two.fills.filter(keep))
