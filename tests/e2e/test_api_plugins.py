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


STUCK = """
    from arbx.strategy import event

    @event
    class Stuck:
        def __init__(self, p):
            pass

        def on_bar(self, ctx):
            if ctx.t == 5:
                while True:  # one call that never returns
                    pass
    """


def test_a_run_stuck_in_one_plugin_call_is_cancelled_and_recorded_as_cancelled(
    client: TestClient, container: Container, tmp_path: Path
) -> None:
    client.blocking_portal.call(_load_samples, container)
    write_plugin(tmp_path / "stuck", "stuck", STUCK)
    with plugins(tmp_path / "stuck"):
        started = client.post("/api/v1/backtests", json={"strategy": "Stuck", **TWO_DAYS})
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        deadline = time.monotonic() + 60
        while client.get(f"/api/v1/backtests/{run_id}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # the worker is inside the call that never returns
        cancelled = client.post(f"/api/v1/backtests/{run_id}/cancel")
        assert cancelled.status_code == 202, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        shown = client.get(f"/api/v1/backtests/{run_id}").json()
        assert shown["status"] == "cancelled"
        assert shown["error"].startswith("cancelled by ")
        again = client.post(f"/api/v1/backtests/{run_id}/cancel")
        assert again.status_code == 409, again.text
        report = client.get(f"/api/v1/backtests/{run_id}/report")
        assert report.status_code == 409
        assert report.json()["errors"] == [{"run_status": "cancelled"}]
        # DELETE on a run still computing cancels it too; the worker was replaced
        second = client.post("/api/v1/backtests", json={"strategy": "Stuck", **TWO_DAYS})
        second_id = second.json()["id"]
        while client.get(f"/api/v1/backtests/{second_id}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.delete(f"/api/v1/backtests/{second_id}").status_code == 204
        assert client.get(f"/api/v1/backtests/{second_id}").json()["status"] == "cancelled"
        unknown = client.post("/api/v1/backtests/nope/cancel")
        assert unknown.status_code == 202  # may compute on another server: asked to stop
        assert unknown.json()["status"] == "cancel_requested"


def test_the_time_limit_stops_one_plugin_call_that_never_returns(
    client: TestClient, container: Container, tmp_path: Path
) -> None:
    from arbx.domain.strategies.plugin import set_time_limit

    client.blocking_portal.call(_load_samples, container)
    write_plugin(tmp_path / "stuck", "stuck", STUCK)
    with plugins(tmp_path / "stuck"):
        set_time_limit(0.5)
        try:
            now = client.post("/api/v1/backtests", json={"strategy": "Stuck", **ONE_DAY})
            assert now.status_code == 422, now.text  # small: waited for, on a worker
            assert "time limit of 0.5 s" in now.json()["detail"]
            later = client.post("/api/v1/backtests", json={"strategy": "Stuck", **TWO_DAYS})
            assert later.status_code == 202, later.text
            body = wait_done(client, later.json()["id"])
            assert body["status"] == "failed"
            assert "Stuck was stopped: it ran longer than its time limit of 0.5 s" in body["error"]
        finally:
            set_time_limit(None)


def test_arbx_backtest_cancel_stops_a_run_the_server_computes(
    client: TestClient, container: Container, settings: Settings, tmp_path: Path
) -> None:
    from arbx.entrypoints.cli.main import main

    client.blocking_portal.call(_load_samples, container)
    write_plugin(tmp_path / "stuck", "stuck", STUCK)
    with plugins(tmp_path / "stuck"):
        started = client.post("/api/v1/backtests", json={"strategy": "Stuck", **TWO_DAYS})
        run_id = started.json()["id"]
        deadline = time.monotonic() + 60
        while client.get(f"/api/v1/backtests/{run_id}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        data = ["--profile", "test", "--data-dir", settings.storage.data_dir]
        assert main([*data, "backtest", "cancel", run_id, "--wait", "20"]) == 0
        shown = client.get(f"/api/v1/backtests/{run_id}").json()
        assert (shown["status"], shown["error"]) == ("cancelled", "cancelled by cli")
        assert main([*data, "backtest", "cancel", run_id]) == 1  # cancelled already
        assert main([*data, "backtest", "cancel", "no-such-run", "--wait", "0.5"]) == 1
