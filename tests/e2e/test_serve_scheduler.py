"""The scheduler inside the served app (the lifespan ``arbx serve`` runs): config jobs are
synced and fire, a job the CLI creates reaches the running server, a run in flight at
shutdown is cancelled and recorded, nothing is left running, and a restart carries on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from arbx.domain.errors import InvalidInput
from arbx.domain.jobs import JobRun, RunStatus
from arbx.entrypoints import runtime
from arbx.entrypoints.cli.main import main
from arbx.entrypoints.container import build_container, resolve
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import Settings, load_settings
from tests.e2e.conftest import make_admin_key, venue_overrides
from tests.support.exchanges import FakeExchanges, Fault

FAST = "config-validate-fast"


def serve_settings(tmp_path: Path, **overrides: Any) -> Settings:
    config_job = {
        "name": "validate-fast",
        "kind": "validate",
        "series": ["binance:BTC/USDC:1m"],
        "interval_s": 0.2,
        "lookback_bars": 5,
    }
    scheduler = {
        "enabled": True,
        "reconcile_s": 0.2,
        "shutdown_grace_s": 0.3,
        "jobs": [config_job],
    }
    return load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "var")},
            "scheduler": scheduler,
            **overrides,
        },
    )


def runs_of(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/jobs/{job_id}/runs")
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()["runs"]
    return runs


def wait_until_finished(
    client: TestClient, job_id: str, count: int, timeout: float = 20.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        runs = runs_of(client, job_id)
        if sum(1 for r in runs if r["status"] != "running") >= count:
            return runs
        assert time.monotonic() < deadline, f"{job_id} has not run {count} times: {runs}"
        time.sleep(0.05)


def stored_runs(settings: Settings) -> list[JobRun]:
    """Every run in the store, read after the server has stopped."""

    async def read() -> list[JobRun]:
        container = build_container(settings)
        await runtime.start(container)
        try:
            jobs = await resolve(container.job_store)
            found: list[JobRun] = await jobs.list_runs(limit=1000)
            return found
        finally:
            await runtime.stop(container)

    return asyncio.run(read())


def test_served_scheduler_fires_jobs_and_stops_cleanly(
    tmp_path: Path, threaded_venues: FakeExchanges
) -> None:
    settings = serve_settings(tmp_path, exchanges=venue_overrides(threaded_venues))
    container = build_container(settings)
    with TestClient(create_app(container)) as client:
        key = client.blocking_portal.call(make_admin_key, container)
        client.headers["X-API-Key"] = key
        job = client.get(f"/api/v1/jobs/{FAST}").json()
        assert job["origin"] == "config"
        assert job["next_run_at"] is not None
        created_at = job["created_at"]

        fired = wait_until_finished(client, FAST, count=2)
        assert {r["trigger"] for r in fired} == {"schedule"}
        assert all(r["status"] == "succeeded" for r in fired if r["status"] != "running")

        # a job created by the CLI (no scheduler there) reaches the running server
        cli = [
            *("--profile", "test", "--data-dir", str(tmp_path / "var"), "jobs", "create"),
            *("--name", "from-cli", "--kind", "validate", "--series", "kraken:BTC/USDC:1m"),
            *("--every", "0.2", "--lookback-bars", "5"),
        ]
        assert main(cli) == 0
        from_cli = next(
            j for j in client.get("/api/v1/jobs").json()["jobs"] if j["name"] == "from-cli"
        )
        assert wait_until_finished(client, from_cli["id"], count=1)[-1]["trigger"] == "schedule"

        paused = client.post(f"/api/v1/jobs/{FAST}/pause").json()
        assert paused["paused"] is True
        assert paused["next_run_at"] is None

        # a collect run that is still waiting for the venue when the server stops
        threaded_venues.binance.inject(Fault.slow(3.0), times=20)
        slow = client.post(
            "/api/v1/jobs",
            json={
                "name": "collect-slow",
                "kind": "collect",
                "series": ["binance:BTC/USDC:1m"],
                "interval_s": 3600,
                "max_attempts": 1,
            },
        ).json()
        assert client.post(f"/api/v1/jobs/{slow['id']}/run").status_code == 202
        assert client.get(f"/api/v1/jobs/{slow['id']}").json()["running"] is True

    runs = stored_runs(settings)
    assert runs, "no run was recorded"
    assert not [r for r in runs if r.status is RunStatus.RUNNING]
    (cancelled,) = [r for r in runs if r.job_id == slow["id"]]
    assert cancelled.status is RunStatus.CANCELLED
    assert cancelled.bars_written == 0
    fast_before = sum(1 for r in runs if r.job_id == FAST)

    # a restart keeps the config job (same id, same creation time, still paused by the
    # operator) and its history; resumed, it fires again
    container = build_container(settings)
    with TestClient(create_app(container)) as client:
        client.headers["X-API-Key"] = key  # stored with the rest
        job = client.get(f"/api/v1/jobs/{FAST}").json()
        assert job["created_at"] == created_at
        assert job["paused"] is True
        assert len(runs_of(client, FAST)) == fast_before
        assert client.post(f"/api/v1/jobs/{FAST}/resume").json()["next_run_at"] is not None
        wait_until_finished(client, FAST, count=fast_before + 1)
    assert not [r for r in stored_runs(settings) if r.status is RunStatus.RUNNING]


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ({"kind": "backfill"}, "scheduler: jobs[0] ('validate-fast'): job kind 'backfill'"),
        ({"interval_s": None}, "give exactly one schedule"),
        ({"every": 5}, "scheduler.jobs[0].every: unknown key"),
    ],
)
def test_a_bad_config_job_stops_start_up_naming_it(
    tmp_path: Path, job: dict[str, Any], message: str
) -> None:
    settings = serve_settings(tmp_path)
    spec = {**msgspec.to_builtins(settings.scheduler.jobs[0]), **job}
    with pytest.raises(InvalidInput) as refused:
        serve_settings(tmp_path, scheduler={"jobs": [spec]})
    assert message in refused.value.message
