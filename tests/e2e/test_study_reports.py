"""Study and walk-forward reports through the faces on the bundled samples:
``arbx optimize report`` and ``walk-forward --report``, ``GET
/api/v1/optimizations/{id}/report`` and ``POST /api/v1/optimizations/walk-forward/report``
(self-contained HTML with the report CSP; 404, 403, 422 as problems)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from litestar.testing import TestClient

import arbx
from arbx.domain.auth import Role
from arbx.entrypoints.container import Container
from tests.e2e.conftest import AnonymousClient
from tests.e2e.test_api_optimizations import SMA_STUDY, wait_done
from tests.e2e.test_api_optimizations import api as api
from tests.e2e.test_api_optimizations import settings as settings
from tests.e2e.test_auth_matrix import bearer, login, make_user
from tests.e2e.test_cli_optimize import GRID, study_id
from tests.e2e.test_cli_optimize import arbx as cli
from tests.e2e.test_cli_optimize import data as data
from tests.e2e.test_python_api import SERIES as PY_SERIES
from tests.e2e.test_python_api import workspace as workspace


def test_cli_writes_study_and_walk_forward_reports(
    data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli(data, *GRID) == 0
    sid = study_id(capsys.readouterr().out)
    out = tmp_path / "study.html"
    assert cli(data, "optimize", "report", sid, "--out", str(out), "--top", "5") == 0
    assert f"wrote {out}" in capsys.readouterr().out
    text = out.read_text()
    assert text.startswith("<!doctype html>")
    assert 'id="table-heatmap_fast_slow"' in text
    assert 'id="block-scatter_fast"' in text
    assert sid in text
    trials = text.split('id="table-trials"')[1].split("</table>")[0]
    assert trials.count("<tr>") == 6  # the header and the 5 best

    assert cli(data, "optimize", "report", "nope", "--out", str(tmp_path / "x.html")) != 0
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()
    assert cli(data, "optimize", "report", sid, "--out", str(out), "--top", "0") == 2
    assert "top must be between 1 and 1000" in capsys.readouterr().err

    wf = tmp_path / "wf.html"
    args = [*GRID, "--train", "1200", "--test", "400", "--json", "--report", str(wf)]
    args[1] = "walk-forward"
    assert cli(data, *args) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)["folds"]) == 4  # stdout stays JSON
    assert f"wrote {wf}" in captured.err
    assert 'id="block-fold_spans"' in wf.read_text()


def test_api_serves_study_and_walk_forward_reports(
    api: TestClient,
    anonymous_client: AnonymousClient,
    container: Container,
) -> None:
    r = api.post("/api/v1/optimizations", json=SMA_STUDY)
    assert r.status_code == 202, r.text
    sid = r.json()["id"]
    assert wait_done(api, sid)["status"] == "done"
    report = api.get(f"/api/v1/optimizations/{sid}/report", params={"top": 3})
    assert report.status_code == 200, report.text
    assert report.headers["content-type"].startswith("text/html")
    assert "sandbox allow-scripts" in report.headers["content-security-policy"]
    assert "default-src 'none'" in report.headers["content-security-policy"]
    assert 'id="table-diagnostics"' in report.text
    assert "Study manifest" in report.text

    bad = api.get(f"/api/v1/optimizations/{sid}/report", params={"top": "many"})
    assert bad.status_code in (400, 422)
    assert "top" in bad.text
    zero = api.get(f"/api/v1/optimizations/{sid}/report", params={"top": 0})
    assert zero.status_code == 422
    assert zero.json()["field"] == "top"
    missing = api.get("/api/v1/optimizations/nope/report")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    make_user(api, container, "eve", Role.ANALYST)
    eve = bearer(login(anonymous_client, "eve")["access_token"])
    assert (
        anonymous_client.get(f"/api/v1/optimizations/{sid}/report", headers=eve).status_code == 403
    )
    assert anonymous_client.get(f"/api/v1/optimizations/{sid}/report").status_code == 401

    body = {"optimization": SMA_STUDY, "train": 1200, "test": 400}
    wf = api.post("/api/v1/optimizations/walk-forward/report", json=body)
    assert wf.status_code == 200, wf.text
    assert wf.headers["content-type"].startswith("text/html")
    assert 'id="table-folds"' in wf.text
    assert 'id="chart-oos_equity"' in wf.text
    too_long = api.post("/api/v1/optimizations/walk-forward/report", json={**body, "train": 3000})
    assert too_long.status_code == 422
    assert too_long.json()["field"] == "folds"
    make_user(api, container, "vic", Role.VIEWER)
    vic = bearer(login(anonymous_client, "vic")["access_token"])
    refused = anonymous_client.post(
        "/api/v1/optimizations/walk-forward/report", json=body, headers=vic
    )
    assert refused.status_code == 403


def test_study_and_walk_forward_reports_from_python(
    workspace: arbx.Workspace,
    tmp_path: Path,
) -> None:
    study = workspace.optimize(
        "sma_cross",
        PY_SERIES,
        "2023-03-10",
        "2023-03-12",
        space={"fast": {"low": 5, "high": 15, "step": 5}, "slow": [30, 60]},
        jobs=1,
    )
    out = tmp_path / "study.html"
    html = study.report(out, top=4)
    assert out.read_text() == html
    assert study.id in html
    assert 'id="table-heatmap_fast_slow"' in html
    assert workspace.study_report(study.id, top=2).count('id="table-trials"') == 1
    with pytest.raises(arbx.NotFound):
        workspace.study_report("0" * 32)
    with pytest.raises(arbx.InvalidInput):
        workspace.study_report(study.id, top=0)
    result = workspace.walk_forward(
        "sma_cross",
        PY_SERIES,
        "2023-03-10",
        "2023-03-12",
        space={"fast": [5, 10], "slow": [30, 60]},
        train=1200,
        test=400,
        jobs=1,
    )
    page = workspace.walk_forward_report(result, tmp_path / "wf.html")
    assert (tmp_path / "wf.html").read_text() == page
    assert page.count("<tr>") > len(result.folds)
    assert 'id="block-fold_spans"' in page


def test_cli_backtest_list_filters_and_sorts(
    data: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["backtest", "run", "--strategy", "sma_cross", "--start", "2023-03-10"]
    for series, fast in (("kraken:BTC/USD:1m", "5"), ("coinbase:BTC/USD:1m", "7")):
        args = [*base, "--end", "2023-03-12", "--series", series, "--param", f"fast={fast}"]
        assert cli(data, *args) == 0
    capsys.readouterr()
    assert cli(data, "backtest", "list", "--venue", "coinbase") == 0
    listed = [line for line in capsys.readouterr().out.splitlines()[1:] if line.strip()]
    assert listed
    assert all("coinbase:BTC/USD:1m" in line for line in listed)
    assert cli(data, "backtest", "list", "--sort", "sharpe", "--asc", "--limit", "50") == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    sharpes = [float(r.split()[6]) for r in rows if r.strip() and r.split()[6] != "-"]
    assert sharpes == sorted(sharpes)
    assert cli(data, "backtest", "list", "--sort", "luck") == 2
    assert "cannot sort by 'luck'" in capsys.readouterr().err


def test_api_serves_a_stored_walk_forwards_report(
    api: TestClient,
    anonymous_client: AnonymousClient,
    container: Container,
) -> None:
    body = {"optimization": SMA_STUDY, "train": 1200, "test": 400}
    started = api.post("/api/v1/walk-forwards", json=body)
    assert started.status_code == 202, started.text
    wf_id = started.json()["id"]
    deadline = time.monotonic() + 120
    while api.get(f"/api/v1/walk-forwards/{wf_id}").json()["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    report = api.get(f"/api/v1/walk-forwards/{wf_id}/report")
    assert report.status_code == 200, report.text
    assert report.headers["content-type"].startswith("text/html")
    assert "sandbox allow-scripts" in report.headers["content-security-policy"]
    assert report.text.count('<tr><td class="num">') >= 4  # the folds table and more
    assert 'id="table-folds"' in report.text
    assert wf_id in report.text  # the stored walk-forward in the manifest
    assert api.get("/api/v1/walk-forwards/nope/report").status_code == 404
    make_user(api, container, "eve", Role.ANALYST)
    eve = bearer(login(anonymous_client, "eve")["access_token"])
    other = anonymous_client.get(f"/api/v1/walk-forwards/{wf_id}/report", headers=eve)
    assert other.status_code == 403
