"""Backtests on recorded books and quotes over HTTP: the request fields ``execution`` and
``latency_ms``, the 422s when a recorded execution cannot be honoured, and a run that fills
on quotes and books recorded in the profile's own store (the Parquet files the stream
recorder writes). One test puts a ``RunBacktest`` with an in-memory fake ``BookStore`` in
the container to show which reads a run makes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from dependency_injector import providers
from litestar.testing import TestClient

from arbx.app.run_backtest import RunBacktest
from arbx.domain.market import SeriesKey
from arbx.domain.market.books import book_frame
from arbx.domain.market.trades import TradeKey
from arbx.domain.orderbook.book import BookSnapshot
from arbx.entrypoints.container import Container
from tests.e2e.test_api_backtests import ARB, SMA, api, settings  # noqa: F401 (fixtures)
from tests.support.books import FakeBookStore


def refused(client: TestClient, body: dict[str, Any], field: str, words: str) -> None:
    response = client.post("/api/v1/backtests", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == field, problem
    assert words in problem["detail"], problem
    assert client.get("/api/v1/backtests").json()["backtests"] == []


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"execution": "recorded_book"}, "execution", "no recorded order-book updates"),
        ({"execution": "teleport"}, "execution", "teleport"),
        ({"latency_ms": 50}, "latency_ms", "book executions"),
        ({"execution": "recorded_book", "latency_ms": -5}, "latency_ms", "between 0"),
        ({"execution": "recorded_book", "latency_ms": 60_000}, "latency_ms", "shorter than a bar"),
        ({"execution": "recorded_book", "book": {"spread_bps": 3}}, "book", "synthetic book"),
        ({"execution": "recorded_quotes", "engine": "vectorized"}, "engine", "event engine"),
        (
            {"execution": "recorded_book", "risk": {"stop_loss": 0.02}},
            "risk.stop_loss",
            "cannot fill on order books",
        ),
        (
            {"execution": "synthetic_book", "slippage": {"kind": "fixed", "bps": 2}},
            "slippage",
            "walk of the book",
        ),
    ],
)
def test_book_executions_that_cannot_be_honoured_are_a_422(
    api: TestClient,  # noqa: F811  (the fixture)
    change: dict[str, Any],
    field: str,
    words: str,
) -> None:
    refused(api, {**SMA, **change}, field, words)


def test_an_arbitrage_on_recorded_quotes_with_none_recorded_is_a_422(
    api: TestClient,  # noqa: F811
) -> None:
    # the profile's quote/book store is wired in: it holds no quotes for these legs
    refused(api, {**ARB, "execution": "recorded_quotes"}, "execution", "no recorded quotes")


def test_a_leg_without_recorded_books_is_a_422_naming_it(
    api: TestClient,  # noqa: F811
    container: Container,
) -> None:
    books = FakeBookStore()
    usdc = SeriesKey.parse(ARB["series"][0])
    label = f"{usdc.exchange.id}:{usdc.symbol}"
    snapshot = BookSnapshot(label, 1, [(24_000.0, 1.0)], [(24_010.0, 1.0)], ts=1_678_406_400_000)
    api.blocking_portal.call(
        books.write_book, TradeKey(usdc.exchange.id, usdc.symbol), book_frame([snapshot])
    )
    container.run_backtest.override(
        providers.Factory(
            RunBacktest,
            bars=container.bar_store,
            runs=container.run_store,
            clock=container.clock,
            books=providers.Object(books),
        )
    )
    try:
        body = {**ARB, "execution": "recorded_book", "latency_ms": 50}
        refused(api, body, "execution", "no recorded order-book updates for kraken:BTC/USD")
    finally:
        container.run_backtest.reset_override()
    # the one leg that has a book was read over the run's span
    assert [read[0] for read in books.reads] == ["book", "book"]


def _recorded_around_the_bars(client: TestClient, container: Container, series: str) -> int:
    """Quotes and a book (a snapshot, then a diff every minute) around each bar's open of
    ``series`` over SPAN, written to the profile's quote/book store as the recorder does."""
    import polars as pl

    from arbx.domain.market import TimeSpan
    from arbx.domain.market.books import QUOTE_SCHEMA
    from arbx.domain.orderbook.book import BookDiff
    from arbx.entrypoints.container import resolve

    key = SeriesKey.parse(series)

    async def write() -> int:
        stores = await resolve(container.stores)
        start, end = (datetime.fromisoformat(SMA[k]).replace(tzinfo=UTC) for k in ("start", "end"))
        bars = await stores.bars.read(key, TimeSpan.of(start, end))
        opens = bars.get_column("open").to_list()
        ts_ms = bars.get_column("ts").dt.epoch("ms").to_list()
        trade_key = TradeKey(key.exchange.id, key.symbol)
        label = f"{key.exchange.id}:{key.symbol}"
        updates: list[BookSnapshot | BookDiff] = [
            BookSnapshot(label, 1, [(opens[0] - 1.0, 5.0)], [(opens[0] + 1.0, 5.0)], ts=ts_ms[0])
        ]
        for i, (t, price) in enumerate(zip(ts_ms[1:], opens[1:], strict=True), start=2):
            previous = opens[i - 2]
            updates.append(
                BookDiff(
                    label,
                    i,
                    [(previous - 1.0, 0.0), (price - 1.0, 5.0)],
                    [(previous + 1.0, 0.0), (price + 1.0, 5.0)],
                    ts=t,
                )
            )
        await stores.books.write_book(trade_key, book_frame(updates))
        quotes = pl.DataFrame(
            {
                "ts": pl.Series([t * 1000 for t in ts_ms], dtype=pl.Int64),
                "bid": [p - 1.0 for p in opens],
                "bid_qty": [5.0] * len(opens),
                "ask": [p + 1.0 for p in opens],
                "ask_qty": [5.0] * len(opens),
            }
        ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
        await stores.books.write_quotes(trade_key, quotes.select(list(QUOTE_SCHEMA)))
        return len(updates)

    return int(client.blocking_portal.call(write))


@pytest.mark.parametrize("execution", ["recorded_book", "recorded_quotes"])
def test_a_run_fills_on_what_the_profile_store_recorded(
    api: TestClient,  # noqa: F811
    container: Container,
    execution: str,
) -> None:
    updates = _recorded_around_the_bars(api, container, SMA["series"][0])
    assert updates > 100
    body = {**SMA, "execution": execution, "latency_ms": 50}
    response = api.post("/api/v1/backtests", json=body)
    assert response.status_code == 201, response.text
    body = response.json()
    run = body["run"]
    assert run["execution"] == execution
    kind = "book rows" if execution == "recorded_book" else "quote"
    assert any(execution in note and kind in note for note in run["notes"]), run["notes"]
    assert run["metrics"]["trade_count"] > 0
    assert api.get(f"/api/v1/backtests/{body['id']}/tables/fills").json()["rows"] > 0
    # a buy walks the asks: one above the bar's open in this recording
    on_bars = api.post("/api/v1/backtests", json=SMA).json()["run"]
    assert run["metrics"]["total_return"] != on_bars["metrics"]["total_return"]
