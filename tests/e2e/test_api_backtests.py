"""Backtests over HTTP on the bundled sample data (two days of the 2023 USDC de-peg).

The app runs on the real local profile; runs reading fewer than 5,000 bars are computed at
once, larger ones (the three-series arbitrage: 7,500 bars) go to the worker pool.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from litestar.testing import TestClient

from arbx.adapters.compute.local_process import LocalProcessExecutor
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.run_store import MemoryRunStore
from arbx.app.background_backtests import BackgroundBacktests, BackgroundRun
from arbx.app.run_backtest import BacktestRuns, RunBacktest
from arbx.domain.auth import Principal, PrincipalKind, Role
from arbx.domain.backtest.request import decode_request
from arbx.domain.backtest.run import BacktestRun
from arbx.domain.errors import NotFound, StorageUnavailable
from arbx.domain.market import TimeSpan
from arbx.entrypoints.container import Container, resolve
from arbx.entrypoints.settings import Settings, load_settings
from arbx.ports.clock import Clock
from arbx.ports.run_store import RunFailure
from tests.builders import key, make_bars
from tests.e2e.conftest import AnonymousClient
from tests.e2e.test_auth_matrix import bearer, login, make_user

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
INLINE_MAX_BARS = 5000
SPAN = {"start": "2023-03-10", "end": "2023-03-12"}
SMA = {
    "strategy": "sma_cross",
    "params": {"fast": 10, "slow": 50},
    "series": ["kraken:BTC/USD:1m"],
    **SPAN,
}
ARB = {
    "strategy": "threshold_arb",
    "params": {"threshold_bps": 20.0},
    "series": ["kraken:BTC/USDC:1m", "kraken:BTC/USD:1m"],
    "conversions": {"kraken:BTC/USDC:1m": "kraken:USDC/USD:1m"},
    **SPAN,
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "var")},
            "backtest": {"inline_max_bars": INLINE_MAX_BARS, "pool_workers": 1},
        },
    )


async def _load_samples(container: Container) -> None:
    samples = await resolve(container.load_samples)
    await samples.execute(SAMPLES, only_if_empty=False)


@pytest.fixture
def api(client: TestClient, container: Container) -> TestClient:
    client.blocking_portal.call(_load_samples, container)
    return client


def wait_done(client: TestClient, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        response = client.get(f"/api/v1/backtests/{run_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        seen.append(body["status"])
        if body["status"] in ("done", "failed"):
            assert set(seen) <= {"pending", "running", "done", "failed"}
            return body
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still {seen[-1]} after {timeout} s")


def test_strategies_list_their_parameter_schemas(api: TestClient) -> None:
    response = api.get("/api/v1/strategies")
    assert response.status_code == 200
    strategies = {s["name"]: s for s in response.json()["strategies"]}
    assert {"sma_cross", "threshold_arb", "stat_arb", "buy_and_hold", "rsi"} <= set(strategies)
    sma = strategies["sma_cross"]
    assert {"fast", "slow"} <= set(sma["params"]["properties"])
    assert sma["kind"] == "signal"
    assert strategies["threshold_arb"]["min_series"] >= 2


def test_a_small_run_answers_with_its_result_and_can_be_read_back(api: TestClient) -> None:
    response = api.post("/api/v1/backtests", json=SMA)
    assert response.status_code == 201, response.text
    body = response.json()
    run, run_id = body["run"], body["id"]
    assert body["status"] == "done"
    assert run["strategy"] == "sma_cross"
    assert run["fill"] == "next_open"
    assert run["optimistic"] is False
    assert run["params"] == {"fast": 10, "slow": 50, "entry": "cross"}  # effective params
    assert run["metrics"]["trade_count"] > 0
    assert run["metrics"]["fees_paid"] > 0  # kraken's default taker fee applies
    assert run["benchmark"]["bars"] == 2880  # buy and hold over the same bars
    assert run["benchmark"]["total_return"] is not None
    (used,) = run["series"]
    assert (used["series"], used["rows"]) == ("kraken:BTC/USD:1m", 2880)
    assert (used["gaps"], used["bars_missing"]) == (0, 0)
    assert 0.0 < used["quality_score"] <= 1.0
    assert run["owner"] is not None

    again = api.get(f"/api/v1/backtests/{run_id}").json()
    assert again["status"] == "done"
    assert again["run"]["metrics"] == run["metrics"]

    trades = api.get(f"/api/v1/backtests/{run_id}/trades").json()
    assert trades["rows"] == len(trades["records"]) >= run["metrics"]["trade_count"]
    assert trades["records"][0]["entry_ts"].startswith("2023-03-10T")

    equity = api.get(f"/api/v1/backtests/{run_id}/equity").json()
    assert equity["rows"] == 2880
    assert set(equity["columns"]) >= {"ts", "equity", "drawdown"}
    assert equity["columns"]["equity"][-1] == pytest.approx(run["metrics"]["final_equity"])

    as_csv = api.get(f"/api/v1/backtests/{run_id}/equity", headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == 2880
    assert float(rows[-1]["equity"]) == pytest.approx(run["metrics"]["final_equity"])
    trades_csv = api.get(f"/api/v1/backtests/{run_id}/trades", headers={"Accept": "text/csv"})
    assert len(list(csv.DictReader(io.StringIO(trades_csv.text)))) == trades["rows"]

    fills = api.get(f"/api/v1/backtests/{run_id}/tables/fills").json()
    assert fills["rows"] > 0
    assert api.get(f"/api/v1/backtests/{run_id}/tables/nope").status_code == 422


def test_a_large_arbitrage_run_goes_to_the_pool_and_completes(api: TestClient) -> None:
    response = api.post("/api/v1/backtests", json=ARB)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] in ("pending", "running")
    assert accepted["bars"] == 2267 + 2880 + 2353
    assert response.headers["location"] == f"/api/v1/backtests/{accepted['id']}"
    listed = api.get("/api/v1/backtests").json()
    assert accepted["id"] in {r["id"] for r in listed["in_flight"]} | {
        r["id"] for r in listed["backtests"]
    }

    body = wait_done(api, accepted["id"])
    assert body["status"] == "done", body["error"]
    run = body["run"]
    assert run["engine"] == "arbitrage"
    opportunities = run["opportunities"]
    assert opportunities["seen"] >= opportunities["taken"]
    assert {s["series"] for s in run["series"]} == {*ARB["series"], "kraken:USDC/USD:1m"}
    usdc = next(s for s in run["series"] if s["series"] == "kraken:BTC/USDC:1m")
    assert usdc["gaps"] > 0  # kraken leaves out minutes without trades
    assert usdc["bars_missing"] == 2880 - 2267

    legs = api.get(f"/api/v1/backtests/{accepted['id']}/trades").json()["records"]
    assert {"venue", "side", "qty", "price", "fee"} <= set(legs[0])
    balances = api.get(f"/api/v1/backtests/{accepted['id']}/tables/balances").json()
    assert any(name.endswith(":base") for name in balances["records"][0])
    found = api.get(f"/api/v1/backtests/{accepted['id']}/tables/opportunities").json()
    assert found["rows"] > 0
    assert {"start_ts", "duration_bars", "peak_net_bps", "mean_net_bps", "taken", "reason"} <= set(
        found["records"][0]
    )
    attribution = run["attribution"]
    parts = sum(v for k, v in attribution.items() if k != "total_pnl")
    assert parts == pytest.approx(attribution["total_pnl"], abs=0.01)
    assert run["common_currency"] == "USD"
    assert accepted["id"] not in {r["id"] for r in api.get("/api/v1/backtests").json()["in_flight"]}


def test_list_filter_rerun_and_delete(api: TestClient) -> None:
    first = api.post("/api/v1/backtests", json=SMA).json()
    other = api.post(
        "/api/v1/backtests", json={**SMA, "strategy": "buy_and_hold", "params": {}}
    ).json()
    listed = api.get("/api/v1/backtests").json()["backtests"]
    assert {first["id"], other["id"]} <= {r["id"] for r in listed}
    only = api.get("/api/v1/backtests", params={"strategy": "sma_cross"}).json()["backtests"]
    assert [r["id"] for r in only] == [first["id"]]
    assert len(api.get("/api/v1/backtests", params={"limit": 1}).json()["backtests"]) == 1
    assert api.get("/api/v1/backtests", params={"limit": 0}).status_code == 422

    rerun = api.post(f"/api/v1/backtests/{first['id']}/rerun")
    assert rerun.status_code == 201
    assert rerun.json()["id"] != first["id"]
    assert rerun.json()["run"]["metrics"] == first["run"]["metrics"]
    same = api.post("/api/v1/backtests", json=first["run"]["request"]).json()
    assert same["run"]["metrics"] == first["run"]["metrics"]

    assert api.delete(f"/api/v1/backtests/{first['id']}").status_code == 204
    assert api.get(f"/api/v1/backtests/{first['id']}").status_code == 404
    assert api.get(f"/api/v1/backtests/{first['id']}/trades").status_code == 404
    assert api.delete(f"/api/v1/backtests/{first['id']}").status_code == 404


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"strategy": "sma_crossing"}, "strategy", "unknown strategy"),
        ({"params": {"fast": 10, "slower": 50}}, "params.slower", "unknown parameter"),
        ({"params": {"fast": 50, "slow": 10}}, "params.fast", "shorter"),
        ({"start": "2023-03-12", "end": "2023-03-10"}, "start", "before"),
        ({"start": "2022-01-01", "end": "2022-01-02"}, "series", "no data"),
        ({"series": ["kraken:ETH/USD:1m"]}, "series", "unknown series 'kraken:ETH/USD:1m'"),
        ({"params": {"fast": 10, "slow": 5000}}, "series", "lookback"),
        ({"capital": -100}, "capital", "positive"),
        ({"fees": {"kraken": {"taker_bps": -1}}}, "fees.taker_bps", "basis points"),
        ({"start": "yesterday-ish"}, "start", ""),
        ({"fill": "sometime"}, "fill", ""),
        ({"shared": "yes"}, "shared", "true or false"),
    ],
)
def test_bad_requests_get_422_naming_the_field_and_store_nothing(
    api: TestClient, change: dict[str, Any], field: str, words: str
) -> None:
    response = api.post("/api/v1/backtests", json={**SMA, **change})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == field
    assert words in problem["detail"]
    assert api.get("/api/v1/backtests").json()["backtests"] == []


def test_runs_belong_to_their_owner_unless_shared(
    api: TestClient, anonymous_client: AnonymousClient, container: Container
) -> None:
    for name in ("ana", "bob"):
        make_user(api, container, name, Role.ANALYST)
    ana = bearer(login(anonymous_client, "ana")["access_token"])
    bob = bearer(login(anonymous_client, "bob")["access_token"])
    private = anonymous_client.post("/api/v1/backtests", json=SMA, headers=ana).json()
    shared = anonymous_client.post(
        "/api/v1/backtests", json={**SMA, "shared": True}, headers=ana
    ).json()
    assert (private["run"]["shared"], shared["run"]["shared"]) == (False, True)

    seen = {
        r["id"] for r in anonymous_client.get("/api/v1/backtests", headers=bob).json()["backtests"]
    }
    assert seen == {shared["id"]}
    assert (
        anonymous_client.get(f"/api/v1/backtests/{private['id']}", headers=bob).status_code == 403
    )
    assert anonymous_client.get(f"/api/v1/backtests/{shared['id']}", headers=bob).status_code == 200
    assert (
        anonymous_client.delete(f"/api/v1/backtests/{shared['id']}", headers=bob).status_code == 403
    )
    # the admin reads everybody's runs; the owner deletes their own
    assert {private["id"], shared["id"]} <= {
        r["id"] for r in api.get("/api/v1/backtests").json()["backtests"]
    }
    assert (
        anonymous_client.delete(f"/api/v1/backtests/{private['id']}", headers=ana).status_code
        == 204
    )


# -- background runs that fail --------------------------------------------------------------------


class StillClock(Clock):
    def now(self) -> Any:
        from datetime import UTC, datetime

        return datetime(2025, 1, 1, tzinfo=UTC)


class BrokenRunStore(MemoryRunStore):
    async def save(self, run: BacktestRun) -> None:
        raise StorageUnavailable("the run store is down")


ANA = Principal(
    kind=PrincipalKind.USER, user_id="u-ana", username="ana", roles=frozenset({Role.ANALYST})
)


async def _backtests(runs: MemoryRunStore) -> tuple[RunBacktest, BacktestRuns, BackgroundBacktests]:
    """One process's use cases on ``runs``: every run goes to a one-worker process pool."""
    bars = MemoryBarStore()
    await bars.write(key("binance:BTC/USDC:1m"), make_bars(400))
    background = BackgroundBacktests(
        runs=runs, executor=LocalProcessExecutor(workers=1), clock=StillClock()
    )
    uc = RunBacktest(bars, runs, StillClock(), background=background, inline_max_bars=0)
    return uc, BacktestRuns(runs, background), background


REQUEST = {
    "strategy": "sma_cross",
    "params": {"fast": 5, "slow": 20},
    "series": ["binance:BTC/USDC:1m"],
    "start": "2024-01-01",
    "end": "2024-01-02",
}


async def test_a_failed_background_run_reads_as_failed_after_a_restart() -> None:
    runs = BrokenRunStore()
    uc, queries, background = await _backtests(runs)
    try:
        run = await uc.start(decode_request(REQUEST), actor=ANA)
        assert isinstance(run, BackgroundRun)
        assert run.task is not None
        await asyncio.wait_for(run.task, 60)
        status = await queries.status(run.id, actor=ANA)
        assert isinstance(status, BackgroundRun)
        assert status.status == "failed"
        assert "run store is down" in (status.error or "")
    finally:
        await background.close()
    # a restarted process (or a second server) on the same store reads the failure
    _, restarted, other = await _backtests(runs)
    recorded = await restarted.status(run.id, actor=ANA)
    assert isinstance(recorded, RunFailure)
    assert (recorded.error, recorded.owner, recorded.bars) == (status.error, "u-ana", 400)
    with pytest.raises(NotFound):
        await restarted.status("another", actor=ANA)
    await other.close()


async def test_runs_in_flight_at_shutdown_are_recorded_as_interrupted() -> None:
    runs = MemoryRunStore()
    uc, _, background = await _backtests(runs)
    run = await uc.start(decode_request(REQUEST), actor=ANA)
    assert isinstance(run, BackgroundRun)
    await background.close()  # cancels before the spawned worker can answer
    assert run.status == "failed"
    assert "interrupted" in (run.error or "")
    assert await runs.list() == []
    _, restarted, other = await _backtests(runs)
    recorded = await restarted.status(run.id, actor=ANA)
    assert isinstance(recorded, RunFailure)
    assert recorded.error == run.error
    await other.close()


async def _revise_first_bar(container: Container, series: str) -> None:
    store = await resolve(container.bar_store)
    k = key(series)
    bars = await store.read(k, TimeSpan.everything())
    revised = bars.head(1).with_columns(pl.col("volume") * 2.0)  # a venue revision
    await store.write(k, revised)


def test_a_rerun_answers_whether_its_data_changed(api: TestClient, container: Container) -> None:
    first = api.post("/api/v1/backtests", json=SMA).json()
    assert first["data_changed"] is None  # not a rerun
    (used,) = first["run"]["series"]
    assert len(used["sha256"]) == 64
    assert first["run"]["request"]["fees"]["kraken"] == {"maker_bps": 25.0, "taker_bps": 40.0}

    same = api.post(f"/api/v1/backtests/{first['id']}/rerun").json()
    assert (same["data_changed"], same["run"]["rerun_of"]) == ([], first["id"])

    api.blocking_portal.call(_revise_first_bar, container, "kraken:BTC/USD:1m")
    changed = api.post(f"/api/v1/backtests/{first['id']}/rerun")
    assert changed.status_code == 201
    (change,) = changed.json()["data_changed"]
    assert change["series"] == "kraken:BTC/USD:1m"
    assert change["before"]["sha256"] == used["sha256"]
    assert change["now"]["sha256"] == changed.json()["run"]["series"][0]["sha256"]
    assert change["now"]["sha256"] != used["sha256"]
    assert change["before"]["rows"] == change["now"]["rows"] == 2880
    assert any(n.startswith("data changed since run") for n in changed.json()["run"]["notes"])
    shown = api.get(f"/api/v1/backtests/{changed.json()['id']}").json()
    assert shown["data_changed"] == [change]
