"""GET /api/v1/series/{key}/stats and ``arbx data stats`` on the real local stores."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from litestar.testing import TestClient

from arbx.entrypoints.cli.main import main
from tests.builders import make_bars
from tests.e2e.test_api_market import upload_body


def test_stats_of_an_uploaded_series(client: TestClient) -> None:
    bars = make_bars(300).filter(~pl.int_range(pl.len()).is_between(100, 109))  # a 10-bar gap
    assert client.post("/api/v1/bars", json=upload_body(bars)).status_code == 200
    for key in ("kraken:BTC-USDC:1m", "Kraken:btc-usdc:1m"):
        response = client.get(f"/api/v1/series/{key}/stats")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["series"] == "kraken:BTC/USDC:1m"
        assert (body["rows"], body["expected_bars"]) == (290, 300)
        assert body["first_ts"] == "2024-01-01T00:00:00Z"
        assert body["gaps"] == {
            "count": 1,
            "bars_missing": 10,
            "longest_bars": 10,
            "longest_start": "2024-01-01T01:40:00Z",
        }
        assert body["months"] == [
            {"month": "2024-01", "expected": 300, "present": 290, "coverage": 290 / 300}
        ]
        assert body["returns"]["count"] == 288  # 289 adjacent pairs less the one across the gap
        assert body["volume"]["count"] == 290
        assert body["quality_score"] == pytest.approx(290 / 300)  # coverage alone: clean bars
        assert body["validated"] is False
    # once checked, the stored gap (and any finding) makes the score the quality route's
    check = client.post(
        "/api/v1/quality/check",
        json={"exchange": "kraken", "symbol": "BTC/USDC", "timeframe": "1m"},
    )
    assert check.status_code == 200, check.text
    body = client.get("/api/v1/series/kraken:BTC-USDC:1m/stats").json()
    assert body["validated"] is True
    quality = client.get(
        "/api/v1/quality", params={"exchange": "kraken", "symbol": "BTC/USDC", "timeframe": "1m"}
    ).json()
    assert body["quality_score"] == quality["score"]["score"]


def test_stats_bad_key_and_unknown_series(client: TestClient) -> None:
    bad = client.get("/api/v1/series/kraken:BTCUSDC:1m/stats")
    assert bad.status_code == 422
    assert "BASE/QUOTE" in bad.json()["detail"]
    assert client.get("/api/v1/series/kraken:BTC-USDC:7m/stats").status_code == 422
    missing = client.get("/api/v1/series/kraken:BTC-USDC:1m/stats")
    assert missing.status_code == 404
    assert "no bars are stored" in missing.json()["detail"]


def arbx(tmp_path: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(tmp_path / "var"), *args])


def test_cli_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "kraken_BTC-USDC_1h.csv"
    make_bars(48, timeframe="1h").rename({"ts": "timestamp"}).with_columns(
        pl.col("timestamp").dt.epoch("ms")
    ).write_csv(path)
    assert arbx(tmp_path, "data", "import", str(path)) == 0
    capsys.readouterr()
    assert arbx(tmp_path, "data", "stats", "kraken:BTC/USDC:1h") == 0
    out = capsys.readouterr().out
    assert "kraken:BTC/USDC:1h: 48 bars" in out
    assert "2024-01          48         48   100.00%" in out
    assert arbx(tmp_path, "data", "stats", "kraken:BTC/USDC:1h", "--json") == 0
    body = json.loads(capsys.readouterr().out)
    assert body["rows"] == 48
    assert body["gaps"]["count"] == 0
    assert arbx(tmp_path, "data", "stats", "kraken:ETH/USDC:1h") == 1
    assert "no bars are stored for kraken:ETH/USDC:1h" in capsys.readouterr().err
    assert arbx(tmp_path, "data", "stats", "kraken-BTC") == 2
