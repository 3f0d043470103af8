"""Comparing stored runs over HTTP and the CLI on the bundled sample data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from arbx.domain.auth import Role
from arbx.entrypoints.container import Container
from tests.e2e.conftest import AnonymousClient
from tests.e2e.test_api_optimizations import _load_samples
from tests.e2e.test_auth_matrix import bearer, login, make_user
from tests.e2e.test_cli_optimize import SAMPLES, arbx


def sma(fast: int, slow: int, start: str = "2023-03-10") -> dict[str, Any]:
    return {
        "strategy": "sma_cross",
        "params": {"fast": fast, "slow": slow},
        "series": ["kraken:BTC/USD:1m"],
        "start": start,
        "end": "2023-03-12",
    }


@pytest.fixture
def api(client: TestClient, container: Container) -> TestClient:
    client.blocking_portal.call(_load_samples, container)
    return client


def test_compare_over_http_with_overlap_and_rights(
    api: TestClient, container: Container, anonymous_client: AnonymousClient
) -> None:
    a = api.post("/api/v1/backtests", json=sma(10, 50)).json()["id"]
    b = api.post("/api/v1/backtests", json=sma(20, 90, start="2023-03-11")).json()["id"]
    r = api.get(f"/api/v1/backtests/compare?ids={a},{b}")
    assert r.status_code == 200, r.text
    got = r.json()
    assert [run["id"] for run in got["runs"]] == [a, b]
    assert got["same_span"] is False
    assert got["overlap_bars"] == 1440
    assert "Memmel" in got["tests"][0]["test"]["method"]
    assert any("overlap" in n for n in got["notes"])
    assert api.get(f"/api/v1/backtests/compare?ids={a},nope").status_code == 404
    assert api.get(f"/api/v1/backtests/compare?ids={a}").status_code == 422
    make_user(api, container, "ann", Role.ANALYST)
    make_user(api, container, "bob", Role.ANALYST)
    ann = bearer(login(anonymous_client, "ann")["access_token"])
    bob = bearer(login(anonymous_client, "bob")["access_token"])
    post = anonymous_client.post
    mine = [post("/api/v1/backtests", json=sma(5, s), headers=ann).json()["id"] for s in (30, 40)]
    theirs = post("/api/v1/backtests", json=sma(5, 60), headers=bob).json()["id"]
    ok = anonymous_client.get(f"/api/v1/backtests/compare?ids={','.join(mine)}", headers=ann)
    assert ok.status_code == 200
    for other in (theirs, a):  # bob's run, and the admin's
        url = f"/api/v1/backtests/compare?ids={mine[0]},{other}"
        assert anonymous_client.get(url, headers=ann).status_code == 403
    assert api.get(f"/api/v1/backtests/compare?ids={mine[0]},{theirs}").status_code == 200


def test_compare_on_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "var"
    assert arbx(data, "data", "load-samples", "--dir", str(SAMPLES)) == 0
    ids = []
    for fast in ("10", "20"):
        args = ["backtest", "run", "--strategy", "sma_cross", "--param", f"fast={fast}"]
        args += ["--series", "kraken:BTC/USD:1m", "--start", "2023-03-10", "--end", "2023-03-12"]
        capsys.readouterr()
        assert arbx(data, *args) == 0
        found = re.search(r"^run ([0-9a-f]{32})", capsys.readouterr().out, re.MULTILINE)
        assert found
        ids.append(found.group(1))
    assert arbx(data, "backtest", "compare", *ids) == 0
    out = capsys.readouterr().out
    assert "[1]-[0]" in out
    assert "Jobson-Korkie test with Memmel's correction" in out
    assert "2,880 common bars" in out
    assert arbx(data, "backtest", "compare", ids[0], "deadbeef") == 1
    assert "does not exist" in capsys.readouterr().err
