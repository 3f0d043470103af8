"""The quality routes through Litestar's test client, on the real local stores."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from litestar.testing import TestClient

from tests.builders import make_bars

TARGET = {"exchange": "binanceus", "symbol": "BTC/USDC", "timeframe": "1m"}
KRAKEN = {"exchange": "kraken", "symbol": "BTC/USDC", "timeframe": "1m"}
COINBASE = {"exchange": "coinbase", "symbol": "BTC/USDC", "timeframe": "1m"}
MISSING = [*range(50, 53), *range(100, 130)]  # 33 bars missing in two gaps
SPIKE_ROW = 200


def upload(client: TestClient, series: dict[str, str], bars: pl.DataFrame) -> dict[str, Any]:
    rows = bars.with_columns(pl.col("ts").dt.epoch("ms")).to_dicts()
    response = client.post("/api/v1/bars", json={**series, "bars": rows})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    """Kraken and Coinbase complete; Binance.US (which prints every minute, so a hole is not
    a quiet minute) with two holes and a 6% spike at row 200."""
    full = make_bars(300)
    upload(client, KRAKEN, full)
    upload(client, COINBASE, full)
    spiked = full.with_columns(
        pl.when(pl.int_range(pl.len()) == SPIKE_ROW).then(pl.col(c) * 1.06).otherwise(pl.col(c))
        for c in ("open", "high", "low", "close")
    )
    upload(client, TARGET, spiked.filter(~pl.int_range(pl.len()).is_in(MISSING)))
    return client


def test_quality_of_an_imported_series_counts_its_findings(seeded: TestClient) -> None:
    body = seeded.get("/api/v1/quality", params=TARGET).json()
    assert body["series"] == "binanceus:BTC/USDC:1m"
    assert (body["start"], body["end"]) == ("2024-01-01T00:00:00Z", "2024-01-01T05:00:00Z")
    score = body["score"]
    assert score["expected_bars"] == 300
    assert score["present_bars"] == 300 - len(MISSING)
    assert score["coverage"] == pytest.approx(267 / 300)
    assert 0 < score["score"] < score["coverage"]  # the spike costs beyond the missing bars
    # the import recorded the cross-venue deviation of the spike (the others did not move)
    assert body["issues_by_rule"]["cross_venue_deviation"] == {"warning": 1}
    assert body["issues_by_severity"]["warning"] >= 1
    assert body["gaps"] == {"count": 0, "bars_missing": 0, "by_cause": {}, "by_status": {}}


def test_check_detects_gaps_as_outages_and_stores_findings(seeded: TestClient) -> None:
    check = seeded.post("/api/v1/quality/check", json=TARGET)
    assert check.status_code == 200, check.text
    body = check.json()
    assert body["bars"] == 267
    assert body["compared_with"] == ["coinbase:BTC/USDC:1m", "kraken:BTC/USDC:1m"]
    assert body["gaps"] == {
        "count": 2,
        "bars_missing": 33,
        "by_cause": {"outage": 2},
        "by_status": {"open": 2},
    }
    gaps = seeded.get("/api/v1/gaps", params={**TARGET, "status": "open"}).json()
    assert gaps["count"] == 2
    assert [(g["start"], g["end"], g["bars_missing"]) for g in gaps["gaps"]] == [
        ("2024-01-01T00:50:00Z", "2024-01-01T00:53:00Z", 3),
        ("2024-01-01T01:40:00Z", "2024-01-01T02:10:00Z", 30),
    ]
    assert seeded.get("/api/v1/gaps", params={**TARGET, "status": "filled"}).json()["count"] == 0
    summary = seeded.get("/api/v1/quality", params=TARGET).json()
    assert summary["gaps"]["by_cause"] == {"outage": 2}


def test_issue_pages_and_filters(seeded: TestClient) -> None:
    seeded.post("/api/v1/quality/check", json=TARGET)
    everything = seeded.get("/api/v1/quality/issues", params={**TARGET, "limit": 1000}).json()
    total = everything["count"]
    assert total >= 1
    assert everything["next_offset"] is None
    seen, offset = [], 0
    while offset is not None:
        page = seeded.get(
            "/api/v1/quality/issues", params={**TARGET, "limit": 1, "offset": offset}
        ).json()
        assert page["count"] <= 1
        seen += page["issues"]
        offset = page["next_offset"]
    assert seen == everything["issues"]
    cross = seeded.get(
        "/api/v1/quality/issues",
        params={**TARGET, "rule": "cross_venue_deviation", "severity": "warning"},
    ).json()
    assert [i["ts"] for i in cross["issues"]] == ["2024-01-01T03:20:00Z"]
    assert cross["issues"][0]["observed"] > 150  # bps from the other venues' median
    errors = seeded.get("/api/v1/quality/issues", params={**TARGET, "severity": "error"}).json()
    assert errors["issues"] == []


def test_repair_dry_run_then_from_another_venue(seeded: TestClient) -> None:
    dry = seeded.post(
        "/api/v1/gaps/repair", json={**TARGET, "policy": "ffill", "dry_run": True}
    ).json()
    assert (dry["filled_bars"], dry["written"], dry["dry_run"]) == (33, 0, True)
    assert seeded.get("/api/v1/series").json()["series"][0]["rows"] == 267

    repair = seeded.post(
        "/api/v1/gaps/repair", json={**TARGET, "policy": "venue", "reference": "kraken"}
    )
    assert repair.status_code == 200, repair.text
    body = repair.json()
    assert body["reference"] == "kraken:BTC/USDC:1m"
    assert (body["filled_bars"], body["unfilled_bars"], body["written"]) == (33, 0, 33)
    assert {g["fill_source"] for g in body["gaps"]} == {"kraken:BTC/USDC:1m"}
    filled = seeded.get("/api/v1/gaps", params={**TARGET, "status": "filled"}).json()
    assert filled["bars_missing"] == 33
    bars = seeded.get("/api/v1/bars", params={**TARGET, "limit": 100, "start": "2024-01-01T01:40"})
    assert bars.json()["bars"][0]["volume"] == 0.0  # a fill, not a trade
    check = seeded.post("/api/v1/quality/check", json=TARGET).json()
    assert check["gaps"]["by_status"] == {"filled": 2}
    assert check["issues_by_severity"].get("error", 0) == 0  # the repaired series is valid
    again = seeded.post("/api/v1/gaps/repair", json={**TARGET, "policy": "ffill"}).json()
    assert (again["filled_bars"], again["written"]) == (0, 0)


def test_repair_leave_accepts_the_gaps(seeded: TestClient) -> None:
    body = seeded.post("/api/v1/gaps/repair", json={**TARGET, "policy": "leave"}).json()
    assert (body["filled_bars"], body["written"]) == (0, 0)
    accepted = seeded.get("/api/v1/gaps", params={**TARGET, "status": "accepted"}).json()
    assert accepted["count"] == 2
    score = seeded.get("/api/v1/quality", params=TARGET).json()["score"]
    assert score["coverage"] == 1.0  # accepted gaps are excused


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "field"),
    [
        ("GET", "/api/v1/quality/issues", {**TARGET, "severity": "fatal"}, 422, "severity"),
        ("GET", "/api/v1/quality/issues", {**TARGET, "limit": 0}, 422, "limit"),
        ("GET", "/api/v1/quality/issues", {**TARGET, "offset": -1}, 422, "offset"),
        ("GET", "/api/v1/gaps", {**TARGET, "status": "closed"}, 422, "status"),
        ("GET", "/api/v1/quality", {**TARGET, "start": "2024-01-01"}, 422, "end"),
        ("GET", "/api/v1/quality", {**TARGET, "timeframe": "7m"}, 422, "timeframe"),
        ("GET", "/api/v1/quality", {**TARGET, "exchange": "bitstamp"}, 404, None),
        ("POST", "/api/v1/gaps/repair", {**TARGET, "policy": "venue"}, 422, "reference"),
        ("POST", "/api/v1/gaps/repair", {**TARGET, "policy": "magic"}, 422, "policy"),
        (
            "POST",
            "/api/v1/gaps/repair",
            {**TARGET, "policy": "venue", "reference": "binanceus"},
            422,
            "reference",
        ),
        ("POST", "/api/v1/gaps/repair", {**TARGET, "basis_window": 0}, 422, "basis_window"),
        # a reference is a source for policy venue only (the CLI refused it; now both faces)
        (
            "POST",
            "/api/v1/gaps/repair",
            {**TARGET, "policy": "ffill", "reference": "kraken"},
            422,
            "reference",
        ),
        ("POST", "/api/v1/quality/check", {**TARGET, "start": "x", "end": "y"}, 422, "start"),
    ],
)
def test_bad_requests_are_clear_problems(
    seeded: TestClient,
    method: str,
    path: str,
    payload: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    before = seeded.get("/api/v1/gaps", params=TARGET).json()
    if method == "GET":
        response = seeded.get(path, params=payload)
    else:
        response = seeded.post(path, json=payload)
    assert response.status_code == status, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem.get("field") == field
    assert problem["detail"]
    assert seeded.get("/api/v1/gaps", params=TARGET).json() == before  # nothing stored


def test_unknown_body_fields_are_rejected(seeded: TestClient) -> None:
    response = seeded.post("/api/v1/gaps/repair", json={**TARGET, "polcy": "ffill"})
    assert response.status_code == 400
    assert "polcy" in response.text


def test_a_hole_on_a_venue_that_omits_quiet_minutes_is_no_trades(seeded: TestClient) -> None:
    quiet = make_bars(100, price=20_000.0).filter(~pl.int_range(pl.len()).is_in([40, 41]))
    upload(seeded, {**KRAKEN, "symbol": "ETH/USDC"}, quiet)
    body = seeded.post("/api/v1/quality/check", json={**KRAKEN, "symbol": "ETH/USDC"}).json()
    assert body["compared_with"] == []
    assert body["gaps"]["by_cause"] == {"no_trades": 1}
    score = seeded.get("/api/v1/quality", params={**KRAKEN, "symbol": "ETH/USDC"}).json()
    assert score["score"]["excused_bars"] == 2
    assert score["score"]["coverage"] == 1.0
