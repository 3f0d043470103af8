"""The strategy catalog API (/api/v1/strategies/catalog...) on the local profile: a whole
life with two analysts, a viewer and an admin, bad input (4xx, nothing stored), and the
strategy types list with plugins."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from arbx.domain.auth import Role
from arbx.entrypoints.container import Container, resolve
from tests.e2e.conftest import AnonymousClient
from tests.e2e.test_auth_matrix import bearer, login, make_user
from tests.support.plugins import EXAMPLES, plugins, write_plugin

BASE = "/api/v1/strategies/catalog"
SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def spec(**change: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "btc-sma",
        "strategy": "sma_cross",
        "params": {"fast": 10, "slow": 50},
        "series": ["kraken:BTC/USD:1m"],
        "fees": {"kraken": {"maker_bps": 25.0, "taker_bps": 40.0}},
        "notes": "first",
    }
    body.update(change)
    return body


@pytest.fixture
def people(client: TestClient, container: Container) -> dict[str, dict[str, str]]:
    anon = AnonymousClient(client)
    out = {}
    for name, role in (("ana", Role.ANALYST), ("ben", Role.ANALYST), ("vic", Role.VIEWER)):
        make_user(client, container, name, role)
        out[name] = bearer(login(anon, name)["access_token"])
    return out


def test_a_definition_through_its_whole_life(
    client: TestClient, container: Container, people: dict[str, dict[str, str]]
) -> None:
    anon = AnonymousClient(client)
    ana, ben, vic = people["ana"], people["ben"], people["vic"]
    made = anon.post(f"{BASE}/", json=spec(), headers=ana)
    assert made.status_code == 201, made.text
    v1 = made.json()["versions"][0]
    assert (v1["number"], v1["state"], v1["spec"]["params"]["entry"]) == (1, "draft", "cross")
    assert (
        anon.post(f"{BASE}/btc-sma/versions", json={"notes": "x"}, headers=ben).status_code == 403
    )
    assert anon.post(f"{BASE}/", json=spec(name="vic-sma"), headers=vic).status_code == 403
    v2 = anon.post(
        f"{BASE}/btc-sma/versions", json={"params": {"slow": 80}, "why": "slower"}, headers=ana
    )
    assert v2.status_code == 201, v2.text
    diff = anon.get(f"{BASE}/btc-sma/diff", params={"a": 1, "b": 2}, headers=vic)
    assert diff.status_code == 200
    assert diff.json()["changes"] == [{"path": "params.slow", "before": 50, "after": 80}]
    back = anon.post(f"{BASE}/btc-sma/rollback", json={"to": 1}, headers=ana)
    assert (back.status_code, back.json()["change"]) == (201, "rollback to v1")
    state = f"{BASE}/btc-sma/versions/3/state"
    assert anon.post(state, json={"state": "candidate"}, headers=ana).status_code == 200
    refused = anon.post(state, json={"state": "approved"}, headers=ana)
    assert refused.status_code == 422
    assert "walk-forward" in refused.json()["detail"]
    # the reference must be a stored, finished walk-forward of this very version
    missing = anon.post(state, json={"state": "approved", "walk_forward": "wf-7"}, headers=ana)
    assert missing.status_code == 422
    assert "walk-forward 'wf-7' does not exist" in missing.json()["detail"]
    assert client.blocking_portal.call(_load_samples, container) > 0
    other = walk_forward(anon, ana, "btc-sma@v2")
    wrong = anon.post(state, json={"state": "approved", "walk_forward": other}, headers=ana)
    assert wrong.status_code == 422
    assert "was run on btc-sma@v2, not on btc-sma@v3" in wrong.json()["detail"]
    wf_id = walk_forward(anon, ana, "btc-sma@v3")
    ok = anon.post(state, json={"state": "approved", "walk_forward": wf_id}, headers=ana)
    assert ok.status_code == 200, ok.text
    assert ok.json()["walk_forward"] == wf_id
    assert ok.json()["approved_by"]
    shown = anon.get(f"{BASE}/btc-sma", headers=vic).json()
    assert [v["state"] for v in shown["versions"]] == ["draft", "draft", "approved"]
    assert [h["after"] for h in shown["history"]] == ["candidate", "approved"]
    listed = anon.get(f"{BASE}/", headers=vic).json()
    assert [d["name"] for d in listed["strategies"]] == ["btc-sma"]
    final = client.post(state, json={"state": "retired"})
    assert final.status_code == 200  # the admin may change anybody's
    again = anon.post(state, json={"state": "candidate"}, headers=ana)
    assert again.status_code == 409
    assert "retired is final" in again.json()["detail"]
    audit = client.get("/api/v1/audit", params={"action": "strategies"})
    assert audit.status_code == 200, audit.text


def test_bad_input_is_a_clear_4xx_and_stores_nothing(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    anon = AnonymousClient(client)
    ana = people["ana"]
    cases = [
        (spec(strategy="nope"), 422, "unknown strategy 'nope'"),
        (spec(params={"fast": 0}), 422, "fast"),
        (spec(name="bad name"), 422, "strategy name"),
        (spec(series=["nowhere"]), 422, "series"),
        ({**spec(), "colour": "red"}, 400, "colour"),
        (spec(rollback={"max_drawdown": 3}), 422, "rollback.max_drawdown"),
    ]
    for body, status, text in cases:
        response = anon.post(f"{BASE}/", json=body, headers=ana)
        assert response.status_code == status, (body, response.text)
        assert text in response.text, response.text
    assert anon.get(f"{BASE}/", headers=ana).json()["count"] == 0
    assert anon.post(f"{BASE}/", json=spec(), headers=ana).status_code == 201
    missing = anon.post(f"{BASE}/btc-sma/rollback", json={"to": 5}, headers=ana)
    assert missing.status_code == 422
    assert "no version 5" in missing.json()["detail"]
    assert anon.get(f"{BASE}/nope", headers=ana).status_code == 404
    bad_state = anon.post(f"{BASE}/btc-sma/versions/1/state", json={"state": "live"}, headers=ana)
    assert bad_state.status_code == 422
    assert len(anon.get(f"{BASE}/btc-sma", headers=ana).json()["versions"]) == 1


def test_evaluate_stores_a_run_that_names_the_version(
    client: TestClient, container: Container
) -> None:
    load = client.blocking_portal.call(_load_samples, container)
    assert load > 0
    assert client.post(f"{BASE}/", json=spec()).status_code == 201
    result = client.post(f"{BASE}/btc-sma/evaluate", json={"version": 1, "days": 1})
    assert result.status_code == 201, result.text
    body = result.json()
    assert body["strategy_version"] == "btc-sma@v1"
    run = client.get(f"/api/v1/backtests/{body['run_id']}").json()
    assert run["run"]["strategy_version"] == "btc-sma@v1"
    ran = client.post(f"{BASE}/btc-sma/runs", json={"start": "2023-03-10", "end": "2023-03-11"})
    assert ran.status_code == 201, ran.text
    stored = client.get(ran.json()["run_url"]).json()["run"]
    assert stored["strategy_version"] == "btc-sma@v1"
    assert stored["params"] == {"fast": 10, "slow": 50, "entry": "cross"}
    assert stored["request"]["fees"]["kraken"] == {"maker_bps": 25.0, "taker_bps": 40.0}
    bad = client.post(f"{BASE}/btc-sma/runs", json={"start": "2023-03-12", "end": "2023-03-11"})
    assert bad.status_code == 422
    none = client.post(f"{BASE}/btc-sma/evaluate", json={})
    assert none.status_code == 409
    assert "no approved version" in none.json()["detail"]


def walk_forward(anon: AnonymousClient, headers: dict[str, str], strategy: str) -> str:
    """A finished walk-forward of a catalog version (over HTTP), its id."""
    body = {
        "optimization": {
            "backtest": {"strategy": strategy, "start": "2023-03-10", "end": "2023-03-12"},
            "space": {"fast": {"choices": [5, 10]}, "slow": {"choices": [30, 60]}},
        },
        "train": 1200,
        "test": 600,
    }
    started = anon.post("/api/v1/walk-forwards", json=body, headers=headers)
    assert started.status_code == 202, started.text
    wf_id: str = started.json()["id"]
    assert started.json()["strategy_version"] == strategy
    for _ in range(600):
        shown = anon.get(f"/api/v1/walk-forwards/{wf_id}", headers=headers).json()
        if shown["status"] != "running":
            break
        time.sleep(0.05)
    assert shown["status"] == "done", shown
    return wf_id


async def _load_samples(container: Container) -> int:
    load = await resolve(container.load_samples)
    return len(await load.execute(SAMPLES, only_if_empty=False))


def test_the_types_list_shows_plugins_with_their_schema(client: TestClient, tmp_path: Path) -> None:
    write_plugin(tmp_path, "broken", "import not_a_module_anywhere\n")
    with plugins(EXAMPLES, tmp_path):
        body = client.get("/api/v1/strategies").json()
    listed = body["strategies"]
    (where,) = body["plugin_failures"]
    assert where.endswith("broken.py")
    assert "ModuleNotFoundError" in body["plugin_failures"][where]
    by_name = {s["name"]: s for s in listed}
    assert by_name["bollinger_breakout"]["source"] == "plugin"
    assert by_name["bollinger_breakout"]["params"]["properties"]["k"]["exclusiveMinimum"] == 0.0
    assert by_name["StopAndReverse"]["kind"] == "event"
    assert by_name["sma_cross"]["source"] == "builtin"
