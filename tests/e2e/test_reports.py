"""Reports through the faces: ``arbx backtest report/compare`` and
``GET /api/v1/backtests/{id}/report``, ``GET /api/v1/reports/compare`` on the samples."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar.testing import TestClient

from arbx.domain.auth import Role
from arbx.entrypoints.container import Container, resolve
from arbx.ports.run_store import RunFailure
from tests.e2e.conftest import AnonymousClient
from tests.e2e.test_api_backtests import ARB, SMA, _load_samples, wait_done
from tests.e2e.test_auth_matrix import bearer, login, make_user
from tests.e2e.test_cli_backtest import SMA as SMA_CLI
from tests.e2e.test_cli_backtest import arbx, run_id


def test_cli_writes_a_report_and_a_comparison(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.e2e.test_cli_backtest import SAMPLES

    data = tmp_path / "var"
    assert arbx(data, "data", "load-samples", "--dir", str(SAMPLES)) == 0
    assert arbx(data, *SMA_CLI) == 0
    first = run_id(capsys.readouterr().out)
    assert arbx(data, *SMA_CLI[:-2], "--param", "fast=20", "--series", "kraken:BTC/USD:1m") == 0
    second = run_id(capsys.readouterr().out)

    out = tmp_path / "run.html"
    assert arbx(data, "backtest", "report", first, "--out", str(out)) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    text = out.read_text()
    assert text.startswith("<!doctype html>")
    assert first in text
    assert 'id="chart-equity"' in text
    assert 'id="table-metrics"' in text

    both = tmp_path / "compare.html"
    assert arbx(data, "backtest", "compare", first, second, "--out", str(both)) == 0
    assert 'id="chart-compare_equity"' in both.read_text()

    assert arbx(data, "backtest", "report", "nope", "--out", str(tmp_path / "x.html")) != 0
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()
    assert arbx(data, "backtest", "report", first, "--out", str(tmp_path / "no" / "x.html")) != 0
    assert "does not exist" in capsys.readouterr().err


@pytest.fixture
def api(client: TestClient, container: Container) -> TestClient:
    client.blocking_portal.call(_load_samples, container)
    return client


def test_api_serves_reports_with_a_locked_down_policy(
    api: TestClient, anonymous_client: AnonymousClient, container: Container
) -> None:
    small = api.post("/api/v1/backtests", json=SMA)
    assert small.status_code == 201, small.text
    big = api.post("/api/v1/backtests", json=ARB)
    assert big.status_code in (201, 202), big.text
    assert wait_done(api, big.json()["id"])["status"] == "done"
    sma_id, arb_id = small.json()["id"], big.json()["id"]
    listed = {r["id"]: r for r in api.get("/api/v1/backtests").json()["backtests"]}
    assert listed[sma_id]["params"] == {"fast": 10, "slow": 50, "entry": "cross"}  # for the UI

    response = api.get(f"/api/v1/backtests/{arb_id}/report")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "sandbox allow-scripts" in csp
    assert 'id="block-attribution"' in response.text
    assert 'id="chart-spread"' in response.text

    compared = api.get("/api/v1/reports/compare", params={"ids": f"{sma_id},{arb_id}"})
    assert compared.status_code == 200, compared.text
    assert "Comparison of 2 backtests" in compared.text
    one = api.get("/api/v1/reports/compare", params={"ids": sma_id})
    assert one.status_code == 422
    assert one.json()["field"] == "ids"

    missing = api.get("/api/v1/backtests/no-such-run/report")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")

    make_user(api, container, "eve", Role.ANALYST)
    eve = bearer(login(anonymous_client, "eve")["access_token"])
    foreign = anonymous_client.get(f"/api/v1/backtests/{sma_id}/report", headers=eve)
    assert foreign.status_code == 403
    assert foreign.json()["status"] == 403
    assert anonymous_client.get(f"/api/v1/backtests/{sma_id}/report").status_code == 401

    async def record_failure() -> None:
        runs = await resolve(container.run_store)
        await runs.record_failure(
            RunFailure(
                id="broken",
                created_at=datetime(2025, 1, 1, tzinfo=UTC),
                strategy="sma_cross",
                bars=10,
                error="worker died",
            )
        )

    api.blocking_portal.call(record_failure)
    conflict = api.get("/api/v1/backtests/broken/report")
    assert conflict.status_code == 409
    problem = conflict.json()
    assert problem["errors"] == [{"run_status": "failed"}]
    assert "worker died" in problem["detail"]
