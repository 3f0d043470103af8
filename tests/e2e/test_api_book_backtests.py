"""Backtests on recorded books and quotes over HTTP: the request fields ``execution`` and
``latency_ms``, and the 422s when a recorded execution cannot be honoured.

The local profile has no quote/book store wired into the backtests yet (the stream
recorder's adapters are built beside this), so one test puts a ``RunBacktest`` with an
in-memory fake ``BookStore`` in the container to show a leg without recorded books is
refused by name."""

from __future__ import annotations

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
        ({"execution": "recorded_book"}, "execution", "needs a quote/book store"),
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


def test_an_arbitrage_on_recorded_quotes_without_a_store_is_a_422(
    api: TestClient,  # noqa: F811
) -> None:
    refused(api, {**ARB, "execution": "recorded_quotes"}, "execution", "needs a quote/book store")


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
