"""GET /api/v1/admin/health: every component with its state, latency and last error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from arbx.entrypoints.container import build_container
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import load_settings
from tests.e2e.conftest import AnonymousClient, make_admin_key

COMPONENTS = {
    "store.bars",
    "database",
    "pool",
    "scheduler",
    "jobs",
    "exchange.binance",
    "exchange.binanceus",
    "exchange.coinbase",
    "exchange.kraken",
    "worker_pool",
    "streams",
    "alerts",
}


def components(client: TestClient) -> tuple[str, dict[str, dict[str, Any]]]:
    response = client.get("/api/v1/admin/health")
    assert response.status_code == 200, response.text
    body = response.json()
    return body["status"], {c["name"]: c for c in body["components"]}


def test_every_component_reports_state_and_latency(
    client: TestClient, anonymous_client: AnonymousClient
) -> None:
    assert anonymous_client.get("/api/v1/admin/health").status_code == 401
    status, found = components(client)
    assert status == "ok"
    assert set(found) == COMPONENTS
    assert all(c["ok"] and c["latency_ms"] >= 0 and c["last_error"] is None for c in found.values())
    assert found["database"]["detail"] == "sqlite"
    assert found["scheduler"]["detail"] == "off ([scheduler] enabled = false)"
    assert found["worker_pool"]["detail"].startswith("1 worker process(es)")


@pytest.fixture
def fragile(tmp_path: Path) -> Iterator[TestClient]:
    """Binance points at a closed port and opens its breaker after one failure."""
    settings = load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "var")},
            "exchanges": {
                "binance": {"attempts": 1, "breaker_threshold": 1, "breaker_cooldown_s": 600.0}
            },
        },
    )
    container = build_container(settings)
    with TestClient(create_app(container)) as client:
        client.headers["X-API-Key"] = client.blocking_portal.call(make_admin_key, container)
        yield client


def test_an_open_breaker_and_a_failing_job_degrade_with_their_last_error(
    fragile: TestClient,
) -> None:
    spec = {
        "name": "collect-btc",
        "kind": "collect",
        "series": ["binance:BTC/USDC:1m"],
        "interval_s": 60,
        "lookback_bars": 30,
        "paused": True,
        "max_attempts": 1,
    }
    job = fragile.post("/api/v1/jobs", json=spec).json()
    run = fragile.post(f"/api/v1/jobs/{job['id']}/run").json()["run"]
    assert run["status"] == "failed"
    status, found = components(fragile)
    assert status == "degraded"  # a venue and a job fail; the stores answer
    binance = found["exchange.binance"]
    assert not binance["ok"]
    assert binance["detail"].startswith("open until")
    assert "127.0.0.1:9" in binance["last_error"]
    assert binance["last_error_at"] is not None
    jobs = found["jobs"]
    assert not jobs["ok"]
    assert "failed 1 time(s) in a row" in jobs["detail"]
    assert found["store.bars"]["ok"]
    assert found["exchange.kraken"]["ok"]
