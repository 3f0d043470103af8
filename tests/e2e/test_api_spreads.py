"""``GET /api/v1/spreads`` and ``/api/v1/spreads/history`` over the app, with the container's
spread monitor fed by in-memory quote sources (the WebSocket quote adapters plug in the same
way), and ``[[spreads]]`` checked at start-up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from arbx.domain.market import Symbol
from arbx.domain.market.books import Quote
from arbx.domain.market.trades import TradeKey
from arbx.entrypoints.container import Container, build_container, resolve
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import load_settings
from arbx.ports.quote_stream import QuoteSource
from arbx.ports.trade_stream import StreamStats
from tests.e2e.conftest import make_admin_key

S = 1_000_000
SPREADS = [
    {
        "name": "btc-usd",
        "legs": ["coinbase:BTC/USD", "kraken:BTC/USDC via kraken:USDC/USD"],
        "threshold_bps": 5.0,
        "max_age_ms": 600_000,
    }
]


class Replay(QuoteSource):
    def __init__(self, quotes: list[Quote]) -> None:
        self.stats = StreamStats("replay")
        self._quotes = quotes

    async def batches(self) -> AsyncIterator[list[Quote]]:
        for quote in self._quotes:
            yield [quote]
            await asyncio.sleep(0.005)
        await asyncio.Event().wait()


def quote(venue: str, symbol: str, ts: int, bid: float, ask: float) -> Quote:
    return Quote(TradeKey(venue, Symbol.parse(symbol)), ts, bid, 2.0, ask, 2.0)


@pytest.fixture
def spread_container(tmp_path: Path) -> Container:
    settings = load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "var")},
            "spreads": SPREADS,
            "backtest": {"fees": {"coinbase": {"taker_bps": 10.0}, "kraken": {"taker_bps": 10.0}}},
        },
    )
    return build_container(settings)


@pytest.fixture
def spread_client(spread_container: Container) -> Iterator[TestClient]:
    # without the scheduler the app does not start the monitor on live quote streams (as
    # `arbx serve` does): the test feeds the container's monitor from in-memory sources
    with TestClient(create_app(spread_container, run_scheduler=False)) as client:
        key = client.blocking_portal.call(make_admin_key, spread_container)
        client.headers["X-API-Key"] = key
        yield client


def test_live_spreads_and_the_stored_history(
    spread_client: TestClient, spread_container: Container
) -> None:
    idle = spread_client.get("/api/v1/spreads")
    assert idle.status_code == 200, idle.text
    body = idle.json()
    assert (body["running"], body["spreads"]) == (False, [])
    assert body["pairs"][0]["legs"] == ["coinbase:BTC/USD", "kraken:BTC/USDC"]

    portal = spread_client.blocking_portal
    monitor = portal.call(resolve, spread_container.spread_monitor)
    stop = portal.call(_event)
    t0 = int(time.time() * 1_000_000)  # live quotes: judged fresh against the wall clock
    sources = [
        Replay(
            [
                quote("kraken", "USDC/USD", t0, 0.999, 1.001),
                quote("kraken", "BTC/USDC", t0, 99.9, 100.0),
            ]
        ),
        Replay(
            [
                quote("coinbase", "BTC/USD", t0 + S, 100.5, 100.6),  # +50 bps gross
                quote("coinbase", "BTC/USD", t0 + 4 * S, 100.0, 100.1),  # gone
            ]
        ),
    ]
    future = portal.start_task_soon(monitor.run, sources, stop)
    try:
        check_the_monitor_over_http(spread_client)
    finally:
        portal.call(_set, stop)
    report = future.result(timeout=10)
    assert report.closed >= 1
    # the alert rules of kind spread_above read this signal (app/alerts.py)
    observations = portal.call(resolve, spread_container.observations)
    signal = observations.signals[("spread_above", "kraken:BTC/USDC>coinbase:BTC/USD")]
    assert signal.value < 5.0  # closed: back below the threshold
    assert "closed" in signal.detail


def check_the_monitor_over_http(spread_client: TestClient) -> None:
    for _ in range(300):
        history = spread_client.get("/api/v1/spreads/history").json()
        if history["count"]:
            break
        time.sleep(0.01)
    assert history["count"] == 1, history
    (opp,) = history["opportunities"]
    assert (opp["buy"], opp["sell"], opp["pair"]) == (
        "kraken:BTC/USDC",
        "coinbase:BTC/USD",
        "btc-usd",
    )
    assert opp["duration_ms"] == 3000.0
    assert opp["peak_net_bps"] == pytest.approx((100.5 / 100.0 - 1) * 1e4 - 20.0)
    assert opp["reason"] == "below_threshold"
    now = spread_client.get("/api/v1/spreads").json()
    assert now["running"] is True
    assert {(s["buy"], s["sell"]) for s in now["spreads"]} == {
        ("kraken:BTC/USDC", "coinbase:BTC/USD"),
        ("coinbase:BTC/USD", "kraken:BTC/USDC"),
    }
    filtered = spread_client.get("/api/v1/spreads/history", params={"pair": "other"}).json()
    assert filtered["count"] == 0
    before = spread_client.get(
        "/api/v1/spreads/history", params={"end": "2024-01-01T00:00:00Z"}
    ).json()
    assert before["count"] == 0


def test_bad_history_queries_are_4xx_naming_the_field(spread_client: TestClient) -> None:
    assert spread_client.get("/api/v1/spreads/history", params={"limit": 0}).status_code == 400
    response = spread_client.get("/api/v1/spreads/history", params={"start": "yesterday"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "start"


@pytest.mark.parametrize(
    ("legs", "words"),
    [
        (["coinbase:BTC/USD", "kraken:BTC/USDC"], "different quotes"),
        (["coinbase:BTC/USD", "kraken BTC/USD"], "VENUE:BASE/QUOTE"),
    ],
)
def test_a_pair_that_cannot_be_compared_fails_when_the_settings_load(
    tmp_path: Path, legs: list[str], words: str
) -> None:
    with pytest.raises(Exception, match=words):
        load_settings(
            profile="test", environ={}, overrides={"spreads": [{"name": "x", "legs": legs}]}
        )


async def _event() -> asyncio.Event:
    return asyncio.Event()


async def _set(event: asyncio.Event) -> None:
    event.set()
