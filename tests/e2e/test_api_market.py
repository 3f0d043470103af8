"""The market routes through Litestar's test client, on the real local stores."""

from __future__ import annotations

import io

import polars as pl
import pytest
from litestar.testing import TestClient

from tests.builders import make_bars

SERIES = {"exchange": "kraken", "symbol": "BTC/USDC", "timeframe": "1m"}


def upload_body(bars: pl.DataFrame, **series: str) -> dict[str, object]:
    rows = bars.with_columns(pl.col("ts").dt.epoch("ms")).to_dicts()
    return {**SERIES, **series, "bars": rows}


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert {c["name"] for c in ready.json()["checks"]} >= {"bar_store"}


def test_upload_then_list_and_read(client: TestClient) -> None:
    bars = make_bars(250)
    response = client.post("/api/v1/bars", json=upload_body(bars))
    assert response.status_code == 200, response.text
    assert response.json()["rows_written"] == 250
    listed = client.get("/api/v1/series").json()["series"]
    assert listed == [
        {
            **SERIES,
            "first_ts": "2024-01-01T00:00:00Z",
            "last_ts": "2024-01-01T04:09:00Z",
            "rows": 250,
        }
    ]
    page = client.get("/api/v1/bars", params={**SERIES, "limit": 100}).json()
    assert page["count"] == 100
    assert page["bars"][0] == {
        "ts": "2024-01-01T00:00:00.000Z",
        **{k: pytest.approx(v) for k, v in bars.row(0, named=True).items() if k != "ts"},
    }


def test_cursor_paging_returns_every_bar_once(client: TestClient) -> None:
    bars = make_bars(250)
    client.post("/api/v1/bars", json=upload_body(bars))
    seen: list[str] = []
    params: dict[str, object] = {**SERIES, "start": "2024-01-01", "end": "2024-01-02"}
    while True:
        response = client.get("/api/v1/bars", params=params)
        body = response.json()
        seen += [b["ts"] for b in body["bars"]]
        if body["next_cursor"] is None:
            assert "x-next-cursor" not in response.headers
            break
        assert response.headers["x-next-cursor"] == body["next_cursor"]
        params["cursor"] = body["next_cursor"]
    assert len(seen) == 250 == len(set(seen))


def test_csv_and_arrow_formats(client: TestClient) -> None:
    bars = make_bars(30)
    client.post("/api/v1/bars", json=upload_body(bars))
    csv = client.get("/api/v1/bars", params=SERIES, headers={"Accept": "text/csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    parsed = pl.read_csv(io.StringIO(csv.text))
    assert parsed.height == 30
    assert parsed["close"].to_list() == pytest.approx(bars["close"].to_list())
    arrow = client.get(
        "/api/v1/bars", params=SERIES, headers={"Accept": "application/vnd.apache.arrow.stream"}
    )
    assert arrow.headers["content-type"] == "application/vnd.apache.arrow.stream"
    assert pl.read_ipc_stream(io.BytesIO(arrow.content)).equals(bars)


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({**SERIES, "symbol": "BTCUSDC"}, 422, "symbol"),
        ({**SERIES, "timeframe": "7m"}, 422, "timeframe"),
        ({**SERIES, "exchange": "Bad Venue!"}, 422, "exchange"),
        ({**SERIES, "start": "2024-01-02", "end": "2024-01-01"}, 422, "span"),
        ({**SERIES, "start": "yesterday"}, 422, "start"),
        ({**SERIES, "cursor": "abc"}, 422, "cursor"),
        ({**SERIES, "limit": 101}, 422, "limit"),
        ({"exchange": "kraken"}, 400, None),
    ],
)
def test_bad_queries_get_problem_details(
    client: TestClient, params: dict[str, object], status: int, field: str | None
) -> None:
    response = client.get("/api/v1/bars", params=params)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["detail"]
    assert problem.get("field") == field


def test_upload_rejects_bad_rows_and_keeps_store_intact(client: TestClient) -> None:
    good = make_bars(10)
    client.post("/api/v1/bars", json=upload_body(good))
    bad = upload_body(make_bars(3, price=50.0))
    bad["bars"][1]["high"] = 0.1  # type: ignore[index]
    bad["bars"][2]["close"] = float("nan")  # type: ignore[index]
    response = client.post(
        "/api/v1/bars",
        content=__import__("json").dumps(bad).replace("NaN", "null"),
        headers={"Content-Type": "application/json"},
    )
    # a null close is not a number: the whole request is malformed, nothing stored changes
    assert response.status_code == 400
    bad["bars"][2]["close"] = -1.0  # type: ignore[index]
    response = client.post("/api/v1/bars", json=bad)
    assert response.status_code == 200
    body = response.json()
    assert body["rows_written"] == 1
    assert {(r["row"], r["column"]) for r in body["rejected"]} >= {(1, "high"), (2, "close")}
    all_bad = upload_body(make_bars(2, price=50.0))
    for row in all_bad["bars"]:  # type: ignore[union-attr]
        row["low"] = 1e9
    response = client.post("/api/v1/bars", json=all_bad)
    assert response.status_code == 422
    assert client.get("/api/v1/series").json()["series"][0]["rows"] == 10


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"exchange": "kraken"}',
        b'{"exchange":"kraken","symbol":"BTC/USDC","timeframe":"1m","bars":[],"x":1}',
    ],
)
def test_malformed_uploads_are_400(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/api/v1/bars", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["type"] == "urn:arbx:problem:bad-request"


def test_empty_upload_is_422(client: TestClient) -> None:
    response = client.post("/api/v1/bars", json={**SERIES, "bars": []})
    assert response.status_code == 422
    assert response.json()["field"] == "bars"


def test_openapi_lists_the_routes(client: TestClient) -> None:
    schema = client.get("/schema/openapi.json").json()
    assert {"/health", "/ready", "/api/v1/series", "/api/v1/bars"} <= set(schema["paths"])
    assert {"get", "post"} <= set(schema["paths"]["/api/v1/bars"])
