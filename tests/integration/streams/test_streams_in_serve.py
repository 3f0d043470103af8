"""Streams inside the served app (Litestar's test client on the real local profile) against a
local fake venue replaying real payloads: ``[[streams]]`` start with the app and are flushed
at shutdown, the API starts (operators only), lists and stops them, bad bodies are clear
4xx, and the stats reach GET /metrics."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from arbx.adapters.parquet.trade_store import ParquetTradeStore
from arbx.domain.auth import Role
from arbx.domain.market import SeriesKey, Symbol, TimeSpan
from arbx.domain.market.trades import TradeKey
from arbx.entrypoints.container import build_container, resolve
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import load_settings
from tests.e2e.conftest import AnonymousClient, make_admin_key
from tests.e2e.test_auth_matrix import bearer, login, make_user
from tests.integration.streams.fake_venue import Behaviour, FakeVenue, lines

OMG = TradeKey("binance", Symbol("OMG", "BUSD"))
TRADES = lines("binance/binanceus_ws_aggTrade_real.jsonl")  # 11 OMGBUSD aggTrades
KLINES = lines("binance/binanceus_ws_kline_1m_real.jsonl")  # 5 klines, 1 closed


@pytest.fixture
def fake_venue() -> Iterator[tuple[FakeVenue, str]]:
    """A fake Binance on its own loop in a thread: trades on @aggTrade, klines on @kline."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    venue = FakeVenue(Behaviour(TRADES))
    by_path = {"aggTrade": TRADES, "kline": KLINES}

    original = venue._handle

    async def handle(request: Any) -> Any:
        kind = "kline" if "@kline" in request.query_string else "aggTrade"
        venue.behaviour = Behaviour(by_path[kind])
        return await original(request)

    venue._handle = handle  # type: ignore[method-assign]
    url = asyncio.run_coroutine_threadsafe(venue.start(), loop).result(10)
    try:
        yield venue, url
    finally:
        asyncio.run_coroutine_threadsafe(venue.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def app_settings(tmp_path: Path, **overrides: Any) -> Any:
    return load_settings(
        profile="test",
        environ={},
        overrides={"storage": {"data_dir": str(tmp_path / "var")}, **overrides},
    )


def wait_for(client: TestClient, predicate: Any, seconds: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = client.get("/api/v1/streams").json()
        if predicate(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def stream_of(body: dict[str, Any], stream_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in body["streams"] if s["id"] == stream_id)
    return found


def test_a_config_stream_runs_in_the_app_shows_its_stats_and_is_flushed_at_shutdown(
    tmp_path: Path, fake_venue: tuple[FakeVenue, str]
) -> None:
    venue, url = fake_venue
    spec = {
        "venue": "binance",
        "symbols": ["OMG/BUSD"],
        "name": "omg",
        "url": url,
        "flush_ms": 20,
        # a long flush would hold trades in memory until the stop: stored at shutdown anyway
        "batch_size": 1000,
    }
    settings = app_settings(tmp_path, streams=[spec])
    container = build_container(settings)
    with TestClient(create_app(container)) as client:
        client.headers["X-API-Key"] = client.blocking_portal.call(make_admin_key, container)
        body = wait_for(
            client, lambda b: stream_of(b, "omg")["channels"][0]["stats"]["stored"] == 11
        )
        omg = stream_of(body, "omg")
        assert omg["origin"] == "config"
        assert omg["state"] == "running"
        assert body["kinds"] == ["book", "candles", "quotes", "trades"]
        stats = omg["channels"][0]["stats"]
        assert stats["messages"] == 11
        assert stats["trades"] == 11
        assert stats["stored"] == 11
        assert stats["bytes"] == sum(len(line) for line in TRADES)
        assert stats["connects"] == 1
        assert stats["reconnects"] == 0
        assert stats["drops"] == 0
        assert stats["queue_size"] == 10_000
        assert 1 <= stats["queue_max"] <= 11
        # the capture is from 2021: its lag is years, and every trade is sampled
        assert stats["lag_samples"] == 11
        assert stats["lag_ms_p50"] > 1e10
        assert stats["lag_ms_p50"] <= stats["lag_ms_p99"] <= stats["lag_ms_max"]
        assert stats["messages_per_s"] > 0
        assert stats["bytes_per_s"] > 0

        metrics = client.get("/metrics").text
        labels = 'stream="omg",channel="trades",venue="binance"'
        assert f"arbx_stream_stored{{{labels}}} 11" in metrics
        assert f"arbx_stream_messages{{{labels}}} 11" in metrics
        assert f"arbx_stream_up{{{labels}}} 1" in metrics
        assert f'arbx_stream_lag_milliseconds{{{labels},quantile="0.99"}}' in metrics
    stored = asyncio.run(
        ParquetTradeStore(tmp_path / "var" / "trades").read(OMG, TimeSpan.everything())
    )
    assert stored.height == 11
    assert venue.paths == ["/stream?streams=omgbusd@aggTrade"]


def test_operators_start_and_stop_streams_and_others_may_only_look(
    tmp_path: Path, fake_venue: tuple[FakeVenue, str]
) -> None:
    _, url = fake_venue
    container = build_container(app_settings(tmp_path))
    with TestClient(create_app(container)) as client:
        client.headers["X-API-Key"] = client.blocking_portal.call(make_admin_key, container)
        anonymous = AnonymousClient(client)
        tokens = {}
        for role in (Role.VIEWER, Role.ANALYST, Role.OPERATOR):
            make_user(client, container, f"s-{role.value}", role)
            tokens[role] = bearer(login(anonymous, f"s-{role.value}")["access_token"])
        body = {
            "venue": "binance",
            "symbols": ["OMG/BUSD"],
            "channels": ["trades", "candles"],
            "url": url,
            "flush_ms": 20,
        }
        assert anonymous.post("/api/v1/streams", json=body).status_code == 401
        for role in (Role.VIEWER, Role.ANALYST):
            denied = anonymous.post("/api/v1/streams", json=body, headers=tokens[role])
            assert denied.status_code == 403, denied.text
            assert anonymous.get("/api/v1/streams", headers=tokens[role]).status_code == 200
        assert client.get("/api/v1/streams").json()["count"] == 0

        started = anonymous.post("/api/v1/streams", json=body, headers=tokens[Role.OPERATOR])
        assert started.status_code == 201, started.text
        stream_id = started.json()["id"]
        assert stream_id == "binance-trades-candles-omg-busd"
        again = anonymous.post("/api/v1/streams", json=body, headers=tokens[Role.OPERATOR])
        assert again.status_code == 409
        assert "running" in again.json()["detail"]

        wait_for(
            client,
            lambda b: (
                [c["stats"]["stored"] for c in stream_of(b, stream_id)["channels"]] == [11, 1]
            ),
        )
        denied = anonymous.post(f"/api/v1/streams/{stream_id}/stop", headers=tokens[Role.VIEWER])
        assert denied.status_code == 403
        stopped = anonymous.post(f"/api/v1/streams/{stream_id}/stop", headers=tokens[Role.OPERATOR])
        assert stopped.status_code == 200, stopped.text
        view = stopped.json()
        assert view["state"] == "stopped"
        assert [c["state"] for c in view["channels"]] == ["stopped", "stopped"]
        missing = client.post("/api/v1/streams/nope/stop")
        assert missing.status_code == 404
        assert "no stream 'nope'" in missing.json()["detail"]

        # only the closed kline became a bar; the 4 updates of running candles did not
        bars = client.blocking_portal.call(_bars, container)
        assert bars.height == 1
        assert bars.row(0, named=True)["close"] == 13.7664
        assert bars.row(0, named=True)["volume"] == 536.51


async def _bars(container: Any) -> Any:
    store = await resolve(container.bar_store)
    return await store.read(SeriesKey.of("binance", "OMG/BUSD", "1m"), TimeSpan.everything())


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            {"venue": "coinbase", "symbols": ["BTC/USD"], "channels": ["candles"]},
            "no candle channel",
        ),
        ({"venue": "binance", "symbols": ["BTCUSDC"]}, "BASE/QUOTE"),
        ({"venue": "binance", "symbols": ["BTC/USDC"], "colour": "red"}, "colour"),
        ({"venue": "binance", "symbols": ["BTC/USDC"], "backpressure": "drop"}, "never dropped"),
        ({"venue": "bitfinex", "symbols": ["BTC/USD"]}, "has no streams"),
        ({"venue": "coinbase", "symbols": ["BTC/USD"], "channels": ["candles"]}, "no candle"),
        ({"venue": "binance", "symbols": []}, "at least one"),
        ({"symbols": ["BTC/USDC"]}, "venue"),
        (
            {
                "venue": "kraken",
                "symbols": ["BTC/USD"],
                "channels": ["candles"],
                "intervals": ["3m"],
            },
            "3m",
        ),
    ],
)
def test_bad_stream_bodies_are_clear_4xx_and_start_nothing(
    tmp_path: Path, body: dict[str, Any], words: str
) -> None:
    container = build_container(app_settings(tmp_path))
    with TestClient(create_app(container)) as client:
        client.headers["X-API-Key"] = client.blocking_portal.call(make_admin_key, container)
        response = client.post("/api/v1/streams", json=body)
        assert 400 <= response.status_code < 500, response.text
        assert words in response.text, response.text
        assert client.get("/api/v1/streams").json()["count"] == 0


def test_a_bad_streams_entry_fails_at_start_up_naming_it(tmp_path: Path) -> None:
    from arbx.domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match=r"streams\[0\]: coinbase has no candle channel"):
        app_settings(
            tmp_path,
            streams=[{"venue": "coinbase", "symbols": ["BTC/USD"], "channels": ["candles"]}],
        )


def test_serve_refuses_a_streams_entry_it_cannot_run_before_serving(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "config"
    config.mkdir()
    (config / "test.toml").write_text(
        '[[streams]]\nvenue = "coinbase"\nsymbols = ["BTC/USD"]\nchannels = ["candles"]\n'
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "arbx.entrypoints.cli.main",
            "--profile",
            "test",
            "serve",
            "--port",
            "0",
        ],
        env={**os.environ, "ARBX_CONFIG_DIR": str(config), "ARBX_DATA_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "coinbase has no candle channel" in done.stderr
    assert "Traceback" not in done.stderr


async def test_bars_built_from_streamed_trades_reach_the_bar_store(
    fake_venue: tuple[FakeVenue, str],
) -> None:
    """The recorded trades through the real socket path with bars = ["1m"]: the minute the
    stream began inside is not written; the next one (over by the clock) is, equal to the
    venue's kline of that minute."""
    import aiohttp

    from arbx.adapters.memory.bar_store import MemoryBarStore
    from arbx.adapters.memory.trade_store import MemoryTradeStore
    from arbx.adapters.streams.venues import Binance
    from arbx.adapters.streams.websocket import WebSocketTrades
    from arbx.app.stream_trades import StreamTrades
    from arbx.domain.market import Timeframe

    _, url = fake_venue
    bars, trades = MemoryBarStore(), MemoryTradeStore()
    use_case = StreamTrades(trades, flush_ms=20, bars=bars, bar_timeframes=[Timeframe.M1])
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        source = WebSocketTrades(session, Binance(), [OMG.symbol], url=url)
        task = asyncio.create_task(use_case.run(source, stop))
        for _ in range(500):
            if source.stats.stored == 11:
                break
            await asyncio.sleep(0.01)
        stop.set()
        report = await task
    stored = await bars.read(SeriesKey.of("binance", "OMG/BUSD", "1m"), TimeSpan.everything())
    assert report.bars_written == 1
    assert stored.height == 1
    row = stored.row(0, named=True)
    last_kline = json.loads(KLINES[4])["data"]["k"]
    assert int(row["ts"].timestamp() * 1000) == last_kline["t"]
    assert (row["open"], row["high"], row["low"], row["close"]) == tuple(
        float(last_kline[k]) for k in ("o", "h", "l", "c")
    )
    assert row["volume"] == pytest.approx(float(last_kline["v"]))


def test_a_config_quote_stream_records_into_the_profiles_book_store(tmp_path: Path) -> None:
    """channels = ["quotes"]: the supervisor runs the quote recorder; the quote lands in the
    profile's quote/book store, where backtests with execution recorded_quotes read it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    venue = FakeVenue(
        Behaviour(lines("kraken/ws_v2_ticker_docs_example.jsonl"), wait_for_subscribe=True)
    )
    url = asyncio.run_coroutine_threadsafe(venue.start(), loop).result(10)
    try:
        spec = {
            "venue": "kraken",
            "symbols": ["ALGO/USD"],
            "channels": ["quotes"],
            "name": "algo-quotes",
            "url": url,
            "flush_ms": 20,
        }
        container = build_container(app_settings(tmp_path, streams=[spec]))
        with TestClient(create_app(container)) as client:
            client.headers["X-API-Key"] = client.blocking_portal.call(make_admin_key, container)
            body = wait_for(
                client,
                lambda b: stream_of(b, "algo-quotes")["channels"][0]["stats"]["messages"] >= 1,
            )
            channel = stream_of(body, "algo-quotes")["channels"][0]
            assert channel["channel"] == "quotes"
            assert channel["stats"]["messages"] >= 1

            async def stored() -> Any:
                stores = await resolve(container.stores)
                return await stores.books.read_quotes(
                    TradeKey("kraken", Symbol("ALGO", "USD")), TimeSpan.everything()
                )

            deadline = time.monotonic() + 15
            quotes = client.blocking_portal.call(stored)
            while quotes.height == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
                quotes = client.blocking_portal.call(stored)
            assert quotes.select("bid", "bid_qty", "ask", "ask_qty").row(0) == (
                0.10025,
                740.0,
                0.10036,
                1361.44813783,
            )
    finally:
        asyncio.run_coroutine_threadsafe(venue.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_the_spread_monitor_runs_in_serve_on_live_quote_streams(tmp_path: Path) -> None:
    """[[spreads]] with the scheduler (as `arbx serve` runs): the monitor reads quote streams of
    its legs' venues and GET /api/v1/spreads shows the pair's live spreads."""
    kraken_ticker = lines("kraken/ws_v2_ticker_docs_example.jsonl")  # ALGO/USD bid 0.10025
    # the Coinbase docs' ticker, its product renamed to ALGO-USD and priced above Kraken's ask
    coinbase = json.loads(lines("coinbase/ws_ticker_docs_example.jsonl")[0])
    coinbase.update(product_id="ALGO-USD", best_bid="0.11", best_ask="0.1101")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    venues = [
        FakeVenue(Behaviour(kraken_ticker, wait_for_subscribe=True)),
        FakeVenue(Behaviour([json.dumps(coinbase)], wait_for_subscribe=True)),
    ]
    kraken_url, coinbase_url = (
        asyncio.run_coroutine_threadsafe(v.start(), loop).result(10) for v in venues
    )
    try:
        settings = app_settings(
            tmp_path,
            spreads=[
                {
                    "name": "algo-usd",
                    "legs": ["kraken:ALGO/USD", "coinbase:ALGO/USD"],
                    "max_age_ms": 10**13,  # the documented quotes are from 2022-2023
                }
            ],
            exchanges={"kraken": {"ws_url": kraken_url}, "coinbase": {"ws_url": coinbase_url}},
        )
        container = build_container(settings)
        with TestClient(create_app(container)) as client:
            client.headers["X-API-Key"] = client.blocking_portal.call(make_admin_key, container)
            deadline = time.monotonic() + 15
            body = client.get("/api/v1/spreads").json()
            while not body["spreads"] and time.monotonic() < deadline:
                time.sleep(0.05)
                body = client.get("/api/v1/spreads").json()
            assert body["running"] is True
            spreads = {(s["buy"], s["sell"]): s for s in body["spreads"]}
            cross = spreads[("kraken:ALGO/USD", "coinbase:ALGO/USD")]
            assert cross["ask"] == 0.10036
            assert cross["bid"] == 0.11
            assert cross["gross_bps"] > 900
    finally:
        for v in venues:
            asyncio.run_coroutine_threadsafe(v.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_a_stream_that_cannot_connect_fires_stream_disconnected_and_shows_in_health(
    tmp_path: Path,
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    spec = {
        "venue": "binance",
        "symbols": ["OMG/BUSD"],
        "name": "down",
        "url": f"ws://127.0.0.1:{closed}",
        "max_attempts": 1000,
    }
    container = build_container(app_settings(tmp_path, streams=[spec]))
    with TestClient(create_app(container)) as client:
        client.headers["X-API-Key"] = client.blocking_portal.call(make_admin_key, container)
        rule = {"name": "down", "kind": "stream_disconnected", "threshold": 0.01, "cooldown_s": 0}
        assert client.post("/api/v1/alerts/rules", json=rule).status_code == 201
        assert client.post("/api/v1/alerts/evaluate").json() == {"transitions": []}  # just down
        time.sleep(0.1)
        fired = client.post("/api/v1/alerts/evaluate").json()["transitions"]
        assert [(t["subject"], t["state"]) for t in fired] == [("down/trades", "firing")]
        health = {c["name"]: c for c in client.get("/api/v1/admin/health").json()["components"]}
        assert health["stream.down"]["ok"] is False
        assert "not connected" in health["stream.down"]["detail"]
