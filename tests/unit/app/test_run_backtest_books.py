"""RunBacktest with recorded executions: the recorded quotes and books come from a
``BookStore`` (a hand-written fake here; the real adapters have their own contract suite)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import msgspec
import polars as pl
import pytest

from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.run_store import MemoryRunStore
from arbx.app.run_backtest import CLI_OPERATOR, RunBacktest, compute
from arbx.domain.backtest.request import decode_request
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey
from arbx.domain.market.books import Quote, book_frame, quotes_frame
from arbx.domain.market.trades import TradeKey
from arbx.domain.orderbook.book import BookDiff, BookSnapshot
from arbx.ports.clock import Clock
from tests.builders import key, make_bars
from tests.support.books import FakeBookStore

START = datetime(2024, 1, 1, tzinfo=UTC)
T0 = int(START.timestamp() * 1000)
OP = CLI_OPERATOR
A, K = key("binance:BTC/USD:1m"), key("kraken:BTC/USD:1m")


class StillClock(Clock):
    def now(self) -> datetime:
        return datetime(2025, 1, 1, tzinfo=UTC)


def trade_key(series: SeriesKey) -> TradeKey:
    return TradeKey(series.exchange.id, series.symbol)


def tape(label: str, bid: float, ask: float, qty: float) -> pl.DataFrame:
    """A snapshot at the start, then a diff every minute re-stating the touch."""
    ups: list[BookSnapshot | BookDiff] = [BookSnapshot(label, 1, [(bid, qty)], [(ask, qty)], ts=T0)]
    ups += [
        BookDiff(label, 1 + i, bids=[(bid, qty)], asks=[(ask, qty)], ts=T0 + i * 60_000)
        for i in range(1, 60)
    ]
    return book_frame(ups)


@pytest.fixture
async def world() -> tuple[MemoryRunStore, FakeBookStore, RunBacktest]:
    bars = MemoryBarStore()
    await bars.write(A, make_bars(60, START, price=100.0, volatility=0.0))
    await bars.write(K, make_bars(60, START, price=101.0, volatility=0.0))
    runs = MemoryRunStore()
    books = FakeBookStore()
    await books.write_book(trade_key(A), tape("binance:BTC/USD", 99.95, 100.05, 1.0))
    await books.write_book(trade_key(K), tape("kraken:BTC/USD", 100.9, 101.1, 0.5))
    uc = RunBacktest(bars, runs, StillClock(), books=books)  # type: ignore[arg-type]
    return runs, books, uc


def arb(**change: object) -> dict[str, object]:
    return {
        "strategy": "threshold_arb",
        "params": {"threshold_bps": 20.0, "max_qty": 1.0},
        "series": [str(A), str(K)],
        "start": START.isoformat(),
        "end": (START + timedelta(hours=1)).isoformat(),
        "arbitrage": {"rebalance_trigger": 0.0, "min_notional": 0.0},
        "execution": "recorded_book",
        "latency_ms": 50,
        **change,
    }


async def test_an_arbitrage_run_fills_on_the_recorded_books_and_names_them(world) -> None:  # type: ignore[no-untyped-def]
    runs, books, uc = world
    run = await uc.execute(decode_request(arb()), actor=OP)
    meta = run.meta
    assert (meta.execution, meta.synthetic) == ("recorded_book", False)
    stored = msgspec.to_builtins(meta.request)
    assert (stored["execution"], stored["latency_ms"]) == ("recorded_book", 50)
    assert [r[0] for r in books.reads] == ["book", "book"]
    assert all(r[2].start == START for r in books.reads)
    named = [n for n in meta.notes if n.startswith("recorded_book ")]
    assert len(named) == 2
    assert "120 book rows" in named[0]  # a bid and an ask row per update
    assert "sha256" in named[0]
    # the same tables as a bar run, with the legs at the recorded prices
    assert {"curve", "trades", "fills", "balances"} <= set(run.tables)
    legs = run.tables["fills"]
    assert set(legs.filter(pl.col("side") == "buy")["price"].to_list()) == {100.05}
    assert set(legs.filter(pl.col("side") == "sell")["price"].to_list()) == {100.9}
    # kraken's bids hold 0.5: each 1 BTC round trip leaves 0.5 bought as a failed leg
    failed = legs.filter(pl.col("purpose") == "failed_leg")
    assert failed.height > 0
    assert meta.attribution is not None
    parts = sum(meta.attribution.parts().values())
    assert parts == pytest.approx(meta.attribution.total_pnl, abs=1e-6)
    assert (await runs.get(run.id)).meta.execution == "recorded_book"


async def test_a_rerun_reads_the_books_again_and_fills_the_same(world) -> None:  # type: ignore[no-untyped-def]
    _, books, uc = world
    first = await uc.execute(decode_request(arb()), actor=OP)
    again = await uc.rerun(first.id, actor=OP)
    assert again.tables["fills"].equals(first.tables["fills"])
    assert again.meta.request.execution == "recorded_book"
    assert not any(n.startswith("data changed") for n in again.meta.notes)
    # a book recorded since changes what the rerun reads: it says so
    label = "kraken:BTC/USD"
    extra = book_frame([BookDiff(label, 61, bids=[(100.8, 2.0)], ts=T0 + 59 * 60_000 + 1)])
    await books.write_book(trade_key(K), extra)
    changed = await uc.rerun(first.id, actor=OP)
    said = [n for n in changed.meta.notes if n.startswith("data changed")]
    assert len(said) == 1
    assert "recorded_book kraken:BTC/USD: 120 book rows" in said[0]
    assert "121 book rows" in said[0]


async def test_a_leg_without_recorded_books_is_refused_and_nothing_stored(world) -> None:  # type: ignore[no-untyped-def]
    runs, books, uc = world
    books.books.pop(trade_key(K))
    with pytest.raises(InvalidInput, match="no recorded order-book updates for kraken") as err:
        await uc.execute(decode_request(arb()), actor=OP)
    assert err.value.field == "execution"
    # quotes were never recorded for either venue
    with pytest.raises(InvalidInput, match="no recorded quotes for binance") as err:
        await uc.execute(decode_request(arb(execution="recorded_quotes")), actor=OP)
    assert err.value.field == "execution"
    # books recorded before the span do not count
    await books.write_book(trade_key(K), tape("kraken:BTC/USD", 100.9, 101.1, 0.5))
    early = books.books[trade_key(A)].filter(pl.col("ts") < START + timedelta(minutes=10))
    books.books[trade_key(A)] = early
    later = START + timedelta(minutes=20)
    with pytest.raises(InvalidInput, match="no recorded order-book updates for binance"):
        await uc.execute(decode_request(arb(start=later.isoformat())), actor=OP)
    assert await runs.list() == []


async def test_without_a_book_store_a_recorded_execution_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    runs, _, _ = world
    bars = MemoryBarStore()
    await bars.write(A, make_bars(60, START))
    await bars.write(K, make_bars(60, START, price=101.0))
    uc = RunBacktest(bars, runs, StillClock())
    with pytest.raises(InvalidInput, match="needs a quote/book store") as err:
        await uc.execute(decode_request(arb()), actor=OP)
    assert err.value.field == "execution"
    # bars and synthetic books still run there, the synthetic one flagged
    synthetic = await uc.execute(
        decode_request(arb(execution="synthetic_book", latency_ms=0)), actor=OP
    )
    assert (synthetic.meta.execution, synthetic.meta.synthetic) == ("synthetic_book", True)


async def test_a_single_market_run_on_recorded_quotes_computes_in_a_worker(world) -> None:  # type: ignore[no-untyped-def]
    _, books, _ = world
    tk = trade_key(A)
    await books.write_quotes(
        tk,
        quotes_frame(
            Quote(tk, (T0 + i * 60_000) * 1000, 99.9, 50.0, 100.1 + i * 0.01, 50.0)
            for i in range(60)
        ),
    )
    body = {
        "strategy": "sma_cross",
        "params": {"fast": 3, "slow": 8},
        "series": [str(A)],
        "start": START.isoformat(),
        "end": (START + timedelta(hours=1)).isoformat(),
        "execution": "recorded_quotes",
        "latency_ms": 10,
    }
    bars = MemoryBarStore()
    await bars.write(A, make_bars(60, START, volatility=0.01))
    uc2 = RunBacktest(bars, MemoryRunStore(), StillClock(), books=books)
    prepared = await uc2.prepare(decode_request(body))
    assert prepared.books[A].height == 60
    clone = pickle.loads(pickle.dumps(prepared))  # what a process pool receives
    result = compute(clone)
    assert result.execution == "recorded_quotes"
    assert result.engine == "event"
    buys = result.fills.filter(pl.col("side") == "buy")
    assert buys.height > 0
    # a buy filling in bar t meets the quote recorded at its open (+10 ms): ask 100.1 + t/100
    for bar, price in zip(buys["bar"].to_list(), buys["price"].to_list(), strict=True):
        assert price == pytest.approx(100.1 + bar * 0.01)
    run = await uc2.execute(decode_request(body), actor=OP)
    assert run.meta.engine == "event"
    assert run.meta.request.latency_ms == 10
