"""GET /api/v1/exchanges and the ingest runs (POST /api/v1/ingest, GET /api/v1/ingest/{id})
against the fake venue servers, on the real local profile (Parquet + SQLite)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from arbx.app.ingest_runs import IngestRuns
from arbx.domain.jobs import RunStatus
from arbx.domain.market import Exchange
from arbx.entrypoints.container import Container, build_container, resolve
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import Settings, load_settings
from tests.e2e.conftest import make_admin_key, venue_overrides
from tests.support.exchanges import FakeExchanges, Fault

DAY = {"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z"}
MAX_BARS = 100_000


@pytest.fixture
def settings(tmp_path: Path, threaded_venues: FakeExchanges) -> Settings:
    exchanges: dict[str, Any] = venue_overrides(
        threaded_venues, attempts=2, breaker_threshold=2, breaker_cooldown_s=600.0
    )
    return load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "var")},
            "http": {"max_page_rows": 100},
            "exchanges": {**exchanges, "ingest_max_bars": MAX_BARS, "ingest_concurrency": 1},
        },
    )


def ingest(client: TestClient, **fields: str) -> Any:
    body = {"exchange": "binance", "symbol": "BTC/USDC", "timeframe": "1m", **DAY, **fields}
    return client.post("/api/v1/ingest", json=body)


def wait_done(client: TestClient, run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/v1/ingest/{run_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] not in ("queued", "running"):
            return body
        assert time.monotonic() < deadline, f"run {run_id} still {body['status']}"
        time.sleep(0.02)


def stored_rows(client: TestClient) -> dict[str, int]:
    series = client.get("/api/v1/series").json()["series"]
    return {f"{s['exchange']}:{s['symbol']}:{s['timeframe']}": s["rows"] for s in series}


def test_exchanges_show_breaker_base_url_and_timeframes(
    client: TestClient, threaded_venues: FakeExchanges
) -> None:
    response = client.get("/api/v1/exchanges")
    assert response.status_code == 200, response.text
    venues = {v["exchange"]: v for v in response.json()["exchanges"]}
    assert list(venues) == ["binance", "binanceus", "coinbase", "kraken"]
    for name, venue in venues.items():
        assert venue["base_url"] == threaded_venues[name].url
        assert venue["breaker"] == "closed"
        assert venue["consecutive_failures"] == 0
        assert venue["retry_at"] is None
    coinbase = {t["timeframe"]: t for t in venues["coinbase"]["timeframes"]}
    assert coinbase["1m"] == {"timeframe": "1m", "native": True, "fetched_as": "1m"}
    assert coinbase["3m"] == {"timeframe": "3m", "native": False, "fetched_as": "1m"}
    kraken = {t["timeframe"]: t["fetched_as"] for t in venues["kraken"]["timeframes"]}
    assert kraken["12h"] == "4h"
    assert threaded_venues.binance.count("/api/v3") == 0  # status is not I/O


def test_backfill_through_the_api_lands_bars_and_a_rerun_fetches_nothing(
    client: TestClient, container: Container, threaded_venues: FakeExchanges
) -> None:
    response = ingest(client)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] in ("queued", "running")
    assert accepted["series"] == "binance:BTC/USDC:1m"
    done = wait_done(client, accepted["run_id"])
    assert done["status"] == "succeeded", done
    assert done["bars_written"] == 1440
    summary = done["summary"]
    assert summary["bars_fetched"] == 1440
    assert summary["bars_rejected"] == 0
    assert summary["pages"] == 2  # 1000 klines per page
    assert (summary["fetched_as"], summary["resampled"]) == ("1m", False)
    assert summary["venue_gaps"] == []
    assert done["progress"]["fraction"] == 1.0
    assert done["progress"]["eta_seconds"] == 0.0
    assert stored_rows(client) == {"binance:BTC/USDC:1m": 1440}
    klines = threaded_venues.binance.count("/api/v3/klines")

    again = wait_done(client, ingest(client).json()["run_id"])
    assert again["status"] == "succeeded"
    assert again["summary"]["up_to_date"] is True
    assert again["summary"]["bars_fetched"] == again["bars_written"] == 0
    assert threaded_venues.binance.count("/api/v3/klines") == klines
    assert stored_rows(client) == {"binance:BTC/USDC:1m": 1440}

    async def recorded() -> tuple[Any, Any]:
        jobs = await resolve(container.job_store)
        run = await jobs.get_run(accepted["run_id"])
        return run, await jobs.get(run.job_id)

    run, job = client.blocking_portal.call(recorded)
    assert run.status is RunStatus.SUCCEEDED
    assert run.bars_written == 1440
    assert job.name == "ingest.binance.btc-usdc.1m"
    assert job.paused  # a manual backfill never fires on its own
    assert done["job_id"] == job.id

    async def read_back() -> int:  # another server on the same store, or after a restart
        other = IngestRuns(
            ensure_history=await resolve(container.ensure_history),
            jobs=await resolve(container.job_store),
            clock=container.clock(),
            max_bars=1,
            concurrency=1,
        )
        return (await other.get(accepted["run_id"])).bars_written

    assert client.blocking_portal.call(read_back) == 1440


def test_progress_while_running_one_run_per_series_and_a_queue(
    client: TestClient, threaded_venues: FakeExchanges
) -> None:
    threaded_venues.binance.inject(Fault(delay=0.4, path="/api/v3/klines"), times=2)
    run_id = ingest(client).json()["run_id"]
    deadline = time.monotonic() + 10
    while (body := client.get(f"/api/v1/ingest/{run_id}").json())["progress"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert body["status"] == "running"
    assert body["progress"]["bars_fetched"] == 1000
    assert 0.6 < body["progress"]["fraction"] < 0.8
    assert body["progress"]["eta_seconds"] is not None
    assert body["summary"] is None
    same = ingest(client)  # the same series again while it runs
    assert same.status_code == 409, same.text
    assert run_id in same.json()["detail"]
    other = ingest(client, exchange="coinbase")  # ingest_concurrency = 1: waits its turn
    assert other.status_code == 202
    assert other.json()["status"] == "queued"
    assert wait_done(client, run_id)["status"] == "succeeded"
    assert wait_done(client, other.json()["run_id"])["status"] == "succeeded"


def test_venue_gaps_are_reported_not_failed(client: TestClient) -> None:
    """The fake Coinbase prints no bar for ~5% of minutes: information, not an error."""
    done = wait_done(client, ingest(client, exchange="coinbase").json()["run_id"])
    assert done["status"] == "succeeded", done
    gaps = done["summary"]["venue_gaps"]
    missing = sum(g["bars"] for g in gaps)
    assert gaps
    assert 20 < missing < 150
    assert done["bars_written"] == 1440 - missing


def test_unknown_symbol_is_422_with_close_matches(
    client: TestClient, threaded_venues: FakeExchanges
) -> None:
    response = ingest(client, symbol="BTC/USDD")
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == "symbol"
    assert "not listed on binance" in problem["detail"]
    assert "BTC/USDC" in problem["detail"]
    assert "BTC/USDC" in problem["errors"]
    assert threaded_venues.binance.count("/api/v3/klines") == 0
    assert stored_rows(client) == {}


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        (
            {"exchange": "ftx"},
            "exchange",
            "not configured; use one of binance, binanceus, coinbase, kraken",
        ),
        ({"exchange": "Bin ance"}, "exchange", "not valid"),
        ({"symbol": "BTCUSDC"}, "symbol", "BASE/QUOTE"),
        ({"timeframe": "7m"}, "timeframe", "not supported"),
        ({"start": "yesterday"}, "start", "ISO-8601"),
        ({"start": "2024-01-02", "end": "2024-01-01"}, "end", "must be after start"),
        ({"start": "2020-01-01", "end": "2024-01-01"}, "end", "at most 100,000"),
        ({"start": "2199-01-01", "end": "2199-01-02"}, "start", "in the future"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    client: TestClient,
    threaded_venues: FakeExchanges,
    fields: dict[str, str],
    field: str,
    words: str,
) -> None:
    response = ingest(client, **fields)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert words in response.json()["detail"]
    assert threaded_venues.binance.count("/api/v3/klines") == 0


def test_malformed_body_and_unknown_run(client: TestClient) -> None:
    assert client.post("/api/v1/ingest", json={"exchange": "binance"}).status_code == 400
    missing = client.get("/api/v1/ingest/no-such-run")
    assert missing.status_code == 404
    assert "no-such-run" in missing.json()["detail"]


def test_failing_venue_opens_the_breaker_in_exchanges_and_ready(
    client: TestClient, threaded_venues: FakeExchanges
) -> None:
    assert client.get("/ready").status_code == 200
    threaded_venues.binance.inject(Fault.http(503, path="/api/v3/klines"), times=10)
    done = wait_done(client, ingest(client).json()["run_id"])
    assert done["status"] == "failed"
    assert "ExchangeUnavailable" in done["error"]
    assert "503" in done["error"]

    venues = {v["exchange"]: v for v in client.get("/api/v1/exchanges").json()["exchanges"]}
    binance = venues["binance"]
    assert binance["breaker"] == "open"
    assert binance["consecutive_failures"] >= 2
    assert binance["retry_at"] is not None
    assert "503" in binance["last_error"]
    assert venues["kraken"]["breaker"] == venues["coinbase"]["breaker"] == "closed"

    # one venue down degrades the service but does not take it out of rotation
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    check = {c["name"]: c for c in ready.json()["checks"]}["exchanges"]
    assert check["ok"] is False
    assert check["critical"] is False
    assert "binance: open" in check["detail"]
    assert "kraken: closed" in check["detail"]

    # while open, a new run fails at once without asking the venue
    klines = threaded_venues.binance.count("/api/v3/klines")
    refused = wait_done(client, ingest(client).json()["run_id"])
    assert refused["status"] == "failed"
    assert threaded_venues.binance.count("/api/v3/klines") == klines
    assert stored_rows(client) == {}


def test_shutdown_cancels_in_flight_runs_without_a_partial_write(
    settings: Settings, threaded_venues: FakeExchanges
) -> None:
    threaded_venues.binance.inject(Fault(delay=1.0, path="/api/v3/klines"), times=5)
    container = build_container(settings)
    with TestClient(create_app(container)) as first:
        key = first.blocking_portal.call(make_admin_key, container)
        first.headers["X-API-Key"] = key
        run_id = ingest(first).json()["run_id"]
        deadline = time.monotonic() + 10
        while first.get(f"/api/v1/ingest/{run_id}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.01)
    # the app stopped mid-page; a restarted one reads the run back from the job store
    with TestClient(create_app(build_container(settings))) as second:
        second.headers["X-API-Key"] = key
        body = second.get(f"/api/v1/ingest/{run_id}").json()
        assert body["status"] == "cancelled", body
        assert "shutting down" in body["error"]
        assert body["finished_at"] is not None
        assert body["series"] == "binance:BTC/USDC:1m"
        assert stored_rows(second) == {}


def test_clients_share_one_session_and_exist_per_enabled_venue(
    tmp_path: Path, threaded_venues: FakeExchanges
) -> None:
    exchanges: dict[str, Any] = venue_overrides(threaded_venues)
    exchanges["kraken"]["enabled"] = False
    settings = load_settings(
        profile="test",
        environ={},
        overrides={"storage": {"data_dir": str(tmp_path / "v")}, "exchanges": exchanges},
    )
    container = build_container(settings)
    with TestClient(create_app(container)) as test_client:
        clients = test_client.blocking_portal.call(resolve, container.exchange_clients)
        assert set(clients) == {Exchange("binance"), Exchange("binanceus"), Exchange("coinbase")}
        sessions = {id(c.http._session) for c in clients.values()}
        assert len(sessions) == 1
