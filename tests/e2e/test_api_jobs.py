"""The jobs API (/api/v1/jobs...) on the real local profile (SQLite jobs, Parquet bars): the
whole life of a job, bad input, config jobs, run-now inline (no scheduler) and in the
background (the scheduler on), and a collect job that fetches from a fake venue."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from litestar.testing import TestClient

from arbx.domain.market import from_ms, to_ms
from arbx.entrypoints.container import Container, build_container
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import Settings, load_settings
from tests.e2e.conftest import make_admin_key, venue_overrides
from tests.support.exchanges import (
    GENERATED_MINUTES,
    GENERATED_START,
    FakeExchanges,
    FakeTimer,
    Fault,
)

SERIES = "binance:BTC/USDC:1m"


def validate_spec(**fields: Any) -> dict[str, Any]:
    return {
        "name": "validate-btc",
        "kind": "validate",
        "series": [SERIES],
        "interval_s": 3600,
        "lookback_bars": 30,
        **fields,
    }


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(
        profile="test",
        environ={},
        overrides={"storage": {"data_dir": str(tmp_path / "var")}, **overrides},
    )


@contextmanager
def admin_client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as client:
        client.headers["X-API-Key"] = client.blocking_portal.call(make_admin_key, container)
        yield client


def wait_for_runs(
    client: TestClient, job_id: str, *, count: int = 1, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """The job's runs once ``count`` of them have finished."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/v1/jobs/{job_id}/runs")
        assert response.status_code == 200, response.text
        runs: list[dict[str, Any]] = response.json()["runs"]
        if sum(1 for r in runs if r["status"] != "running") >= count:
            return runs
        assert time.monotonic() < deadline, f"job {job_id}: {runs}"
        time.sleep(0.02)


def test_a_job_from_creation_to_deletion(client: TestClient) -> None:
    created = client.post("/api/v1/jobs", json=validate_spec())
    assert created.status_code == 201, created.text
    job = created.json()
    job_id = job["id"]
    assert job["name"] == "validate-btc"
    assert (job["kind"], job["origin"], job["paused"]) == ("validate", "api", False)
    assert job["targets"] == [SERIES]
    assert job["schedule"] == {
        "type": "interval",
        "description": "every 3600 s",
        "interval_s": 3600.0,
        "cron": None,
    }
    assert job["next_run_at"] is None  # no scheduler in the test profile
    assert job["last_run"] is None
    assert job["running"] is False

    listed = client.get("/api/v1/jobs").json()
    assert listed["count"] == 1
    assert listed["jobs"][0]["id"] == job_id
    assert client.get(f"/api/v1/jobs/{job_id}").json() == job

    changed = client.patch(
        f"/api/v1/jobs/{job_id}",
        json={
            "cron": "*/15 * * * *",
            "markets": {"exchanges": ["kraken"], "symbols": ["ETH/USDC"], "timeframes": ["1h"]},
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["schedule"]["type"] == "cron"
    assert body["schedule"]["interval_s"] is None
    assert body["schedule"]["cron"]["minute"] == "*/15"
    assert body["series"] == []  # giving markets replaced both target lists
    assert body["targets"] == ["kraken:ETH/USDC:1h"]
    assert body["created_at"] == job["created_at"]

    paused = client.post(f"/api/v1/jobs/{job_id}/pause")
    assert paused.status_code == 200
    assert paused.json()["paused"] is True
    assert client.post(f"/api/v1/jobs/{job_id}/pause").json()["paused"] is True  # idempotent
    resumed = client.post(f"/api/v1/jobs/{job_id}/resume")
    assert resumed.status_code == 200
    assert resumed.json()["paused"] is False

    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 204
    missing = client.get(f"/api/v1/jobs/{job_id}")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    for method, path in (
        ("DELETE", f"/api/v1/jobs/{job_id}"),
        ("PATCH", f"/api/v1/jobs/{job_id}"),
        ("POST", f"/api/v1/jobs/{job_id}/run"),
        ("POST", f"/api/v1/jobs/{job_id}/pause"),
        ("GET", f"/api/v1/jobs/{job_id}/runs"),
    ):
        kwargs = {"json": {}} if method == "PATCH" else {}
        assert client.request(method, path, **kwargs).status_code == 404, (method, path)
    assert client.get("/api/v1/jobs").json() == {"count": 0, "jobs": []}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "backfill"}, "kind"),
        ({"name": "Bad Name!"}, "name"),
        ({"series": ["binance:BTC/USDC:7m"]}, None),
        ({"series": []}, "series"),
        ({"cron": "*/5 * * * *"}, "schedule"),  # and interval_s: two schedules
        ({"interval_s": None}, "schedule"),
        ({"interval_s": 0.01}, "interval_s"),
        ({"cron": "61 * * * *", "interval_s": None}, "cron"),
        ({"lookback_bars": 0}, "lookback_bars"),
        ({"max_attempts": 11}, "max_attempts"),
        ({"repair_policy": "ffill"}, "repair_policy"),  # only repair jobs take one
        ({"kind": "repair", "repair_policy": "venue"}, "reference_exchange"),
    ],
)
def test_bad_definitions_are_refused_naming_the_field_and_store_nothing(
    client: TestClient, fields: dict[str, Any], field: str | None
) -> None:
    response = client.post("/api/v1/jobs", json=validate_spec(**fields))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "urn:arbx:problem:invalid-input"
    if field is not None:
        assert problem["field"] == field, problem
    assert client.get("/api/v1/jobs").json()["count"] == 0


def test_unknown_fields_and_name_clashes_are_refused(client: TestClient) -> None:
    assert client.post("/api/v1/jobs", json=validate_spec(every=5)).status_code == 400
    first = client.post("/api/v1/jobs", json=validate_spec()).json()
    clash = client.post("/api/v1/jobs", json=validate_spec(interval_s=60))
    assert clash.status_code == 409, clash.text
    other = client.post("/api/v1/jobs", json=validate_spec(name="other")).json()
    renamed = client.patch(f"/api/v1/jobs/{other['id']}", json={"name": "validate-btc"})
    assert renamed.status_code == 409
    bad_patch = client.patch(f"/api/v1/jobs/{first['id']}", json={"lookback_bars": -1})
    assert bad_patch.status_code == 422
    assert bad_patch.json()["field"] == "lookback_bars"
    unchanged = client.get(f"/api/v1/jobs/{first['id']}").json()
    assert unchanged["lookback_bars"] == 30
    assert unchanged["updated_at"] == first["updated_at"]
    assert client.get(f"/api/v1/jobs/{first['id']}/runs", params={"limit": 0}).status_code == 422


def test_run_now_without_a_scheduler_runs_inline_and_records_the_run(client: TestClient) -> None:
    job = client.post("/api/v1/jobs", json=validate_spec(paused=True)).json()
    response = client.post(f"/api/v1/jobs/{job['id']}/run")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "finished"
    run = body["run"]
    assert (run["status"], run["trigger"], run["attempt"]) == ("succeeded", "manual", 1)
    assert run["error"] is None
    assert run["finished_at"] is not None
    runs = client.get(body["runs_url"]).json()
    assert runs["count"] == 1
    assert runs["runs"][0] == run
    shown = client.get(f"/api/v1/jobs/{job['id']}").json()
    assert shown["last_run"] == run
    assert shown["paused"] is True  # running a paused job by hand does not resume it


def test_a_failing_run_is_recorded_with_its_error(client: TestClient) -> None:
    # nothing listens where the test profile points the venues: the venue is unavailable
    spec = validate_spec(name="collect-btc", kind="collect", max_attempts=1)
    job = client.post("/api/v1/jobs", json=spec).json()
    run = client.post(f"/api/v1/jobs/{job['id']}/run").json()["run"]
    assert run["status"] == "failed"
    assert run["bars_written"] == 0
    assert SERIES in run["error"]
    assert "ExchangeUnavailable" in run["error"]


def test_config_jobs_can_be_paused_and_run_but_not_changed(tmp_path: Path) -> None:
    config_job = validate_spec(name="nightly-check", cron={"hour": "2", "minute": "0"})
    del config_job["interval_s"]
    settings = make_settings(tmp_path, scheduler={"jobs": [config_job]})
    with admin_client(build_container(settings)) as client:
        job = client.get("/api/v1/jobs/config-nightly-check").json()
        assert (job["origin"], job["name"]) == ("config", "nightly-check")
        assert job["schedule"]["cron"]["hour"] == "2"
        changed = client.patch("/api/v1/jobs/config-nightly-check", json={"lookback_bars": 5})
        assert changed.status_code == 409
        assert "config" in changed.json()["detail"]
        assert client.delete("/api/v1/jobs/config-nightly-check").status_code == 409
        paused = client.patch("/api/v1/jobs/config-nightly-check", json={"paused": True})
        assert paused.status_code == 200
        assert paused.json()["paused"] is True
        assert client.post("/api/v1/jobs/config-nightly-check/resume").json()["paused"] is False
        ran = client.post("/api/v1/jobs/config-nightly-check/run")
        assert ran.status_code == 200
        assert ran.json()["run"]["status"] == "succeeded"
        taken = client.post("/api/v1/jobs", json=validate_spec(name="nightly-check"))
        assert taken.status_code == 409


def test_run_now_with_the_scheduler_answers_202_and_refuses_overlap(
    tmp_path: Path, threaded_venues: FakeExchanges
) -> None:
    settings = make_settings(
        tmp_path,
        scheduler={"enabled": True},
        exchanges=venue_overrides(threaded_venues),
    )
    venue_now = from_ms(to_ms(GENERATED_START) + GENERATED_MINUTES * 60_000 + 30_000)
    container = build_container(settings)
    timer = FakeTimer(venue_now)  # the venue's time: the last closed hour exists there
    container.clock.override(providers.Object(timer))
    threaded_venues.binance.inject(Fault.slow(0.5), times=1)
    with admin_client(container) as client:
        spec = validate_spec(name="collect-btc", kind="collect", lookback_bars=60)
        job = client.post("/api/v1/jobs", json=spec).json()
        assert job["next_run_at"] is not None  # the scheduler knows it
        started = client.post(f"/api/v1/jobs/{job['id']}/run")
        assert started.status_code == 202, started.text
        assert started.json()["status"] == "started"
        assert started.json()["run"] is None
        assert client.get(f"/api/v1/jobs/{job['id']}").json()["running"] is True
        overlap = client.post(f"/api/v1/jobs/{job['id']}/run")  # the venue answers slowly
        assert overlap.status_code == 409, overlap.text
        assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 409

        runs = wait_for_runs(client, job["id"])
        assert len(runs) == 1
        assert runs[0]["status"] == "succeeded", runs
        assert runs[0]["bars_written"] == 60  # the last closed hour, fetched from the venue
        series = client.get("/api/v1/series").json()["series"]
        assert [(s["exchange"], s["rows"]) for s in series] == [("binance", 60)]

        timer.advance(1.0)  # runs list newest first: the second starts later
        again = client.post(f"/api/v1/jobs/{job['id']}/run")  # nothing new: nothing fetched
        assert again.status_code == 202
        latest = wait_for_runs(client, job["id"], count=2)[0]
        assert (latest["status"], latest["bars_written"]) == ("succeeded", 0)
