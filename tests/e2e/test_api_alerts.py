"""Alerts through the API on the local profile: rules from the config and the API, a pass
that fires on an open breaker and a failing job (once: dedup), every transition stored,
webhook notifications delivered to a local receiver, channel status and a test send."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from arbx.entrypoints.container import build_container
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import load_settings
from tests.e2e.conftest import make_admin_key
from tests.support.receivers import WebhookReceiver, webhook_receiver

COLLECT = {
    "name": "collect-btc",
    "kind": "collect",
    "series": ["binance:BTC/USDC:1m"],
    "interval_s": 60,
    "lookback_bars": 30,
    "paused": True,
    "max_attempts": 1,
}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as hook:
        yield hook


@pytest.fixture
def alerting(tmp_path: Path, receiver: WebhookReceiver) -> Iterator[TestClient]:
    settings = load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "var")},
            "exchanges": {
                "binance": {"attempts": 1, "breaker_threshold": 1, "breaker_cooldown_s": 600.0}
            },
            "alerts": {
                "evaluate_s": 3600,
                "base_delay_s": 0.01,
                "channels": {"ops": {"kind": "webhook", "url": receiver.url, "secret": "k"}},
                "rules": [{"name": "breaker", "kind": "breaker_open", "cooldown_s": 0}],
            },
        },
    )
    container = build_container(settings)
    with TestClient(create_app(container)) as client:
        client.headers["X-API-Key"] = client.blocking_portal.call(make_admin_key, container)
        yield client


def wait_for(receiver: WebhookReceiver, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(receiver.received) < count:
        assert time.monotonic() < deadline, f"{len(receiver.received)} of {count} arrived"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"name": "x", "kind": "stale"}, 422, "rule kind 'stale' does not exist"),
        (
            {"name": "x", "kind": "job_failing", "channels": ["pager"]},
            422,
            "unknown channel(s) pager",
        ),
        ({"name": "x", "kind": "quality_below"}, 422, "need a threshold"),
        ({"name": "x", "kind": "breaker_open", "colour": "red"}, 400, "colour"),
        ({"kind": "breaker_open"}, 400, "name"),
    ],
)
def test_bad_rules_are_refused_and_nothing_is_stored(
    alerting: TestClient, body: dict[str, object], status: int, text: str
) -> None:
    response = alerting.post("/api/v1/alerts/rules", json=body)
    assert response.status_code == status, response.text
    assert text in response.text
    assert [v["rule"]["name"] for v in alerting.get("/api/v1/alerts").json()["rules"]] == [
        "breaker"
    ]


def test_rules_fire_once_are_stored_and_notify(
    alerting: TestClient, receiver: WebhookReceiver
) -> None:
    listed = alerting.get("/api/v1/alerts").json()
    assert [(v["rule"]["id"], v["rule"]["origin"], v["firing"]) for v in listed["rules"]] == [
        ("config-breaker", "config", [])
    ]
    created = alerting.post(
        "/api/v1/alerts/rules",
        json={
            "name": "jobs-failing",
            "kind": "job_failing",
            "threshold": 1,
            "severity": "critical",
        },
    )
    assert created.status_code == 201, created.text
    rule_id = created.json()["id"]
    assert alerting.post("/api/v1/alerts/evaluate").json() == {"transitions": []}

    job = alerting.post("/api/v1/jobs", json=COLLECT).json()
    assert alerting.post(f"/api/v1/jobs/{job['id']}/run").json()["run"]["status"] == "failed"
    fired = alerting.post("/api/v1/alerts/evaluate").json()["transitions"]
    assert sorted((t["rule_id"], t["subject"], t["state"]) for t in fired) == sorted(
        [("config-breaker", "binance", "firing"), (rule_id, job["id"], "firing")]
    )
    assert alerting.post("/api/v1/alerts/evaluate").json() == {"transitions": []}  # dedup

    wait_for(receiver, 2)
    bodies = sorted((json.loads(h.body) for h in receiver.received), key=lambda b: b["rule"])
    assert [(b["rule"], b["state"], b["severity"]) for b in bodies] == [
        ("breaker", "firing", "warning"),
        ("jobs-failing", "firing", "critical"),
    ]
    assert all(h.headers["X-Arbx-Signature"].startswith("sha256=") for h in receiver.received)

    history = alerting.get("/api/v1/alerts/history", params={"rule": "config-breaker"}).json()
    assert [(t["subject"], t["state"]) for t in history["transitions"]] == [("binance", "firing")]
    assert "open" in history["transitions"][0]["summary"]
    view = {v["rule"]["id"]: v for v in alerting.get("/api/v1/alerts").json()["rules"]}
    assert [t["subject"] for t in view["config-breaker"]["firing"]] == ["binance"]
    [channel] = alerting.get("/api/v1/alerts/channels").json()["channels"]
    assert (channel["name"], channel["ok"], channel["delivered"]) == ("ops", True, 2)

    tested = alerting.post("/api/v1/alerts/test", json={"channels": ["ops"]}).json()
    assert tested["channels"][0]["delivered"] == 3
    assert json.loads(receiver.received[-1].body)["test"] is True
    assert alerting.post("/api/v1/alerts/test", json={"channels": ["nope"]}).status_code == 422

    assert alerting.delete("/api/v1/alerts/rules/config-breaker").status_code == 422
    assert alerting.delete(f"/api/v1/alerts/rules/{rule_id}").status_code == 204
    assert alerting.delete(f"/api/v1/alerts/rules/{rule_id}").status_code == 404
    kept = alerting.get("/api/v1/alerts/history", params={"rule": rule_id}).json()
    assert [t["state"] for t in kept["transitions"]] == ["firing"]  # history outlives the rule
    everything = alerting.get("/api/v1/alerts/history").json()
    assert {t["rule_id"] for t in everything["transitions"]} == {"config-breaker", rule_id}
    assert alerting.get("/api/v1/alerts/history", params={"limit": 0}).status_code == 400
    health = {c["name"]: c for c in alerting.get("/api/v1/admin/health").json()["components"]}
    assert health["alerts.ops"]["ok"]
