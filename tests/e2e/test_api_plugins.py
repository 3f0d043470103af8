"""Plugins through POST /api/v1/backtests: a plugin that raises is a failed run with its
traceback (422 at once, or a failed background run), never a 500; plugins run in the worker
pool too; the server loads plugins only when an admin turned it on."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from arbx.entrypoints.container import Container, resolve
from arbx.entrypoints.plugins import load_plugins
from arbx.entrypoints.settings import Settings, load_settings
from tests.support.plugins import EXAMPLES, plugins, write_plugin

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
ONE_DAY = {"series": ["kraken:BTC/USD:1m"], "start": "2023-03-10", "end": "2023-03-11"}
TWO_DAYS = {**ONE_DAY, "end": "2023-03-12"}  # 2,880 bars: above inline_max_bars


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "var")},
            "backtest": {"inline_max_bars": 2000, "pool_workers": 1},
        },
    )


@pytest.fixture
def mine(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "mine"
    write_plugin(
        folder,
        "late_bug",
        """
        from arbx.strategy import signal

        @signal(per_bar=True)
        def late_bug(bars, p):
            if bars.n > 1000:
                raise ValueError("my indicator broke")
            return 0
        """,
    )
    with plugins(EXAMPLES, folder):
        yield folder


async def _load_samples(container: Container) -> None:
    samples = await resolve(container.load_samples)
    await samples.execute(SAMPLES, only_if_empty=False)


def wait_done(client: TestClient, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/v1/backtests/{run_id}").json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


def test_a_failing_plugin_is_a_failed_run_not_a_500(
    client: TestClient, container: Container, mine: Path
) -> None:
    client.blocking_portal.call(_load_samples, container)
    now = client.post("/api/v1/backtests", json={"strategy": "late_bug", **ONE_DAY})
    assert now.status_code == 422, now.text
    detail = now.json()["detail"]
    assert "failed in its signal function at bar 1000: ValueError: my indicator broke" in detail
    assert "late_bug.py" in detail
    found = re.search(r"backtest run ([0-9a-f]{32}) failed", detail)
    assert found, detail
    failed = client.get(f"/api/v1/backtests/{found.group(1)}").json()
    assert failed["status"] == "failed"
    assert "raise ValueError" in failed["error"]

    later = client.post("/api/v1/backtests", json={"strategy": "late_bug", **TWO_DAYS})
    assert later.status_code == 202, later.text
    body = wait_done(client, later.json()["id"])
    assert body["status"] == "failed"
    assert "StrategyFailed: strategy late_bug failed" in body["error"]
    assert "raise ValueError" in body["error"]

    fine = client.post(
        "/api/v1/backtests",
        json={"strategy": "bollinger_breakout", "params": {"window": 30}, **TWO_DAYS},
    )
    assert fine.status_code == 202, fine.text
    done = wait_done(client, fine.json()["id"])
    assert done["status"] == "done", done.get("error")
    assert any("strategy plugin bollinger_breakout" in n for n in done["run"]["notes"])


def test_the_server_loads_plugins_only_when_an_admin_allows_it(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    write_plugin(
        folder,
        "flat",
        """
        from arbx.strategy import signal

        @signal
        def flat(bars, p):
            return bars.close * 0
        """,
    )
    paths = {"paths": [str(folder)], "entry_points": False}
    off = load_settings(profile="test", environ={}, overrides={"strategies": paths})
    assert load_plugins(off, server=True) is None
    on = load_settings(
        profile="test", environ={}, overrides={"strategies": {**paths, "load_in_server": True}}
    )
    with plugins():  # forget whatever load_plugins registers
        report = load_plugins(on, server=True)
        assert report is not None
        assert [s.name for s in report.loaded] == ["flat"]
        cli = load_plugins(off, server=False)  # the CLI always loads them
        assert cli is not None
        assert [s.name for s in cli.loaded] == ["flat"]


def test_an_event_strategy_over_two_venues_runs_through_the_api(
    client: TestClient, container: Container, mine: Path
) -> None:
    client.blocking_portal.call(_load_samples, container)
    two = {**ONE_DAY, "series": ["kraken:BTC/USD:1m", "coinbase:BTC/USD:1m"]}
    body = {"strategy": "PairsReversion", "params": {"window": 30, "entry_z": 1.5}, **two}
    made = client.post("/api/v1/backtests", json=body)
    assert made.status_code == 202, made.text  # 2 x 1,440 bars: computed by a worker
    run_id = made.json()["id"]
    done = wait_done(client, run_id)
    assert done["status"] == "done", done.get("error")
    run = done["run"]
    assert [s["series"] for s in run["series"]] == two["series"]
    assert run["engine"] == "event"
    fills = client.get(f"/api/v1/backtests/{run_id}/tables/fills").json()["records"]
    assert fills
    assert {f["venue"] for f in fills} <= {"kraken", "coinbase"}
    assert {f["symbol"] for f in fills} == {"BTC/USD"}
    balances = client.get(f"/api/v1/backtests/{run_id}/tables/balances").json()["records"]
    assert "coinbase:BTC/USD:position" in balances[0]
    mixed = {**body, "series": ["kraken:BTC/USD:1m", "kraken:BTC/USDC:1m"]}
    refused = client.post("/api/v1/backtests", json=mixed)
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "series"
    assert "one cash balance" in refused.json()["detail"]
