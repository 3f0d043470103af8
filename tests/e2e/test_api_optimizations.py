"""Optimization studies over HTTP on the bundled sample data: 202 with an id, status with
progress and the best so far, trials, diagnostics, promote; 422 naming the field with nothing
stored; analysts see their own studies, admins all."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from arbx.domain.auth import Role
from arbx.entrypoints.container import Container, resolve
from arbx.entrypoints.settings import Settings, load_settings
from tests.e2e.conftest import AnonymousClient
from tests.e2e.test_auth_matrix import bearer, login, make_user

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
SPAN = {"start": "2023-03-10", "end": "2023-03-12"}
SMA_STUDY: dict[str, Any] = {
    "backtest": {"strategy": "sma_cross", "series": ["kraken:BTC/USD:1m"], **SPAN},
    "space": {
        "fast": {"low": 5, "high": 20, "step": 5},
        "slow": {"low": 30, "high": 90, "step": 30},
    },
}
ARB_STUDY: dict[str, Any] = {
    "backtest": {
        "strategy": "threshold_arb",
        "series": ["kraken:BTC/USDC:1m", "kraken:BTC/USD:1m"],
        "conversions": {"kraken:BTC/USDC:1m": "kraken:USDC/USD:1m"},
        **SPAN,
    },
    "space": {"threshold_bps": {"low": 1, "high": 60}},
    "method": "bayes",
    "trials": 6,
    "objective": "net_pnl",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "var")},
            "backtest": {"pool_workers": 1},
            "optimize": {"max_trials": 50},
        },
    )


async def _load_samples(container: Container) -> None:
    samples = await resolve(container.load_samples)
    await samples.execute(SAMPLES, only_if_empty=False)


@pytest.fixture
def api(client: TestClient, container: Container) -> TestClient:
    client.blocking_portal.call(_load_samples, container)
    return client


def wait_done(client: Any, study_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r = client.get(f"/api/v1/optimizations/{study_id}", headers=headers or {})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if body["status"] != "running":
            return body
        time.sleep(0.2)
    raise AssertionError(f"study {study_id} did not finish")


def test_a_grid_study_is_accepted_runs_and_promotes(api: TestClient) -> None:
    r = api.post("/api/v1/optimizations", json=SMA_STUDY)
    assert r.status_code == 202, r.text
    accepted = r.json()
    study_id = accepted["id"]
    assert r.headers["Location"] == f"/api/v1/optimizations/{study_id}"
    assert accepted["n_trials"] == 12
    done = wait_done(api, study_id)
    assert done["status"] == "done"
    assert done["trials_done"] == 12
    assert done["best"]["value"] is not None
    trials = api.get(f"/api/v1/optimizations/{study_id}/trials").json()["trials"]
    assert [t["number"] for t in trials] == list(range(12))
    assert max(t["value"] for t in trials if t["value"] is not None) == done["best"]["value"]
    diag = api.get(f"/api/v1/optimizations/{study_id}/diagnostics").json()
    assert 0 <= diag["deflated_sharpe"]["probability"] <= 1
    assert 0 <= diag["pbo"]["probability"] <= 1
    promoted = api.post(f"/api/v1/optimizations/{study_id}/promote?trial=3")
    assert promoted.status_code == 201, promoted.text
    body = promoted.json()
    assert body["trial"] == 3
    assert body["run"]["metrics"]["sharpe"] == trials[3]["metrics"]["sharpe"]
    run = api.get(f"/api/v1/backtests/{body['run_id']}")
    assert run.status_code == 200
    listed = api.get("/api/v1/optimizations").json()["optimizations"]
    assert [s["id"] for s in listed] == [study_id]


def test_a_bayes_arbitrage_study_runs_over_http(api: TestClient) -> None:
    r = api.post("/api/v1/optimizations", json=ARB_STUDY)
    assert r.status_code == 202, r.text
    done = wait_done(api, r.json()["id"])
    assert done["status"] == "done"
    assert done["trials_done"] == 6
    assert done["objective"]["metric"] == "net_pnl"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"method": "annealing"}, "method"),
        ({"space": {"fast": {"low": 20, "high": 5}}}, "space.fast"),
        ({"space": {"nope": [1, 2]}}, "space.nope"),
        (
            {
                "space": {
                    "fast": {"low": 1, "high": 40, "step": 1},
                    "slow": {"low": 2, "high": 80, "step": 1},
                }
            },
            "space",
        ),
        ({"objective": "alpha"}, "objective.metric"),
        (
            {"backtest": {**SMA_STUDY["backtest"], "series": ["kraken:ETH/USD:1m"]}},
            "backtest.series",
        ),
        ({"backtest": {**SMA_STUDY["backtest"], "start": "2023-03-12"}}, "backtest.start"),
        ({"trials": "many"}, "trials"),
        ({"seed": -1}, "seed"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_stores_nothing(
    api: TestClient, change: dict[str, Any], field: str
) -> None:
    r = api.post("/api/v1/optimizations", json={**SMA_STUDY, **change})
    assert r.status_code == 422, r.text
    assert field in r.text
    if field == "space":
        assert "optimize.max_trials (50)" in r.text
    assert api.get("/api/v1/optimizations").json()["optimizations"] == []


def test_analysts_own_their_studies_and_admins_see_all(
    api: TestClient, container: Container, anonymous_client: AnonymousClient
) -> None:
    make_user(api, container, "ann", Role.ANALYST)
    make_user(api, container, "bob", Role.ANALYST)
    ann = bearer(login(anonymous_client, "ann")["access_token"])
    bob = bearer(login(anonymous_client, "bob")["access_token"])
    r = anonymous_client.post("/api/v1/optimizations", json=SMA_STUDY, headers=ann)
    assert r.status_code == 202, r.text
    study_id = r.json()["id"]
    wait_done(anonymous_client, study_id, ann)
    assert anonymous_client.get(f"/api/v1/optimizations/{study_id}", headers=bob).status_code == 403
    assert (
        anonymous_client.get(f"/api/v1/optimizations/{study_id}/trials", headers=bob).status_code
        == 403
    )
    r = anonymous_client.post(f"/api/v1/optimizations/{study_id}/promote", headers=bob)
    assert r.status_code == 403
    assert anonymous_client.get("/api/v1/optimizations", headers=bob).json()["optimizations"] == []
    assert [s["id"] for s in api.get("/api/v1/optimizations").json()["optimizations"]] == [study_id]
    assert api.get("/api/v1/optimizations/nope").status_code == 404


def test_walk_forward_over_http(api: TestClient) -> None:
    body = {"optimization": SMA_STUDY, "train": 1200, "test": 400, "mode": "anchored"}
    r = api.post("/api/v1/walk-forwards", json=body)
    assert r.status_code == 202, r.text
    wf_id = r.json()["id"]
    assert r.headers["location"] == f"/api/v1/walk-forwards/{wf_id}"
    assert r.json()["folds_total"] == 4
    for _ in range(600):
        shown = api.get(f"/api/v1/walk-forwards/{wf_id}").json()
        if shown["status"] != "running":
            break
        time.sleep(0.05)
    assert shown["status"] == "done", shown
    assert shown["folds_done"] == 4
    result = shown["result"]
    assert result["id"] == wf_id
    assert len(result["folds"]) == 4
    assert {f["train_start"] for f in result["folds"]} == {result["folds"][0]["train_start"]}
    assert len(result["oos_equity"]) == 1600
    listed = api.get("/api/v1/walk-forwards").json()["walk_forwards"]
    assert [w["id"] for w in listed] == [wf_id]
    assert listed[0]["result"] is None
    before = len(listed)
    r = api.post("/api/v1/walk-forwards", json={**body, "train": 3000})
    assert r.status_code == 422
    assert "folds" in r.text
    assert len(api.get("/api/v1/walk-forwards").json()["walk_forwards"]) == before
    assert api.get("/api/v1/walk-forwards/nope").status_code == 404
