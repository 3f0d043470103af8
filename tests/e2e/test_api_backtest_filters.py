"""The backtest list's filters over HTTP: status, series, venue, span, sort by a metric and
paging (done by the store); a bad value is a 4xx naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar.testing import TestClient

from arbx.entrypoints.container import Container, resolve
from arbx.ports.run_store import RunFailure
from tests.e2e.test_api_backtests import SMA
from tests.e2e.test_api_backtests import api as api
from tests.e2e.test_api_backtests import settings as settings


def _ids(api: TestClient, **params: Any) -> list[str]:
    r = api.get("/api/v1/backtests", params=params)
    assert r.status_code == 200, r.text
    return [b["id"] for b in r.json()["backtests"]]


def test_the_list_filters_sorts_and_pages(api: TestClient, container: Container) -> None:
    made = {}
    for name, body in {
        "kraken_fast": {**SMA, "params": {"fast": 5, "slow": 20}},
        "kraken_slow": {**SMA, "params": {"fast": 20, "slow": 90}},
        "coinbase": {**SMA, "series": ["coinbase:BTC/USD:1m"]},
        "late": {**SMA, "start": "2023-03-11T12:00:00Z"},
    }.items():
        r = api.post("/api/v1/backtests", json=body)
        assert r.status_code == 201, r.text
        made[name] = r.json()
    ids = {name: run["id"] for name, run in made.items()}
    assert set(_ids(api, venue="coinbase")) == {ids["coinbase"]}
    assert set(_ids(api, series="kraken:BTC/USD:1m")) == {
        ids["kraken_fast"],
        ids["kraken_slow"],
        ids["late"],
    }
    assert _ids(api, start="2023-03-12T00:00:00Z") == []
    assert set(_ids(api, end="2023-03-11T06:00:00Z")) == {
        ids["kraken_fast"],
        ids["kraken_slow"],
        ids["coinbase"],
    }
    sharpe = {name: run["run"]["metrics"]["sharpe"] for name, run in made.items()}
    by_sharpe = sorted(ids, key=lambda n: -(sharpe[n] if sharpe[n] is not None else -1e18))
    assert _ids(api, sort="sharpe") == [ids[n] for n in by_sharpe]
    assert _ids(api, sort="sharpe", order="asc")[-1] != _ids(api, sort="sharpe")[-1]
    page = api.get("/api/v1/backtests", params={"sort": "sharpe", "limit": 3}).json()
    assert page["next_offset"] == 3
    rest = api.get("/api/v1/backtests", params={"sort": "sharpe", "limit": 3, "offset": 3}).json()
    assert rest["next_offset"] is None
    assert [b["id"] for b in page["backtests"] + rest["backtests"]] == [ids[n] for n in by_sharpe]
    assert set(_ids(api, status="done")) == set(ids.values())
    assert _ids(api, status="running") == []

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
    failed = api.get("/api/v1/backtests", params={"status": "failed"}).json()
    assert failed["backtests"] == []
    assert [(f["id"], f["status"], f["error"]) for f in failed["failed"]] == [
        ("broken", "failed", "worker died")
    ]


def test_bad_filter_values_are_4xx_naming_the_parameter(api: TestClient) -> None:
    for params, field in [
        ({"status": "finished"}, "status"),
        ({"sort": "luck"}, "sort"),
        ({"order": "up"}, "order"),
        ({"series": "kraken-btc"}, "series"),
        ({"venue": "Not A Venue!"}, "venue"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2023-03-11", "end": "2023-03-10"}, "end"),
        ({"offset": "-1"}, "offset"),
        ({"status": "failed", "venue": "kraken"}, "venue"),
        ({"limit": "0"}, "limit"),
    ]:
        r = api.get("/api/v1/backtests", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["field"] == field, (params, r.text)
    r = api.get("/api/v1/backtests", params={"offset": "many"})
    assert 400 <= r.status_code < 500
    assert "offset" in r.text
