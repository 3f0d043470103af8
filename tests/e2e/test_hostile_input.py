"""Hostile input never gives a 500: deep nesting, invalid UTF-8, integers out of range, NUL
bytes (issue 12). Each answer is a 4xx problem and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

DEEP = 1000


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def assert_client_error(response: Any, *statuses: int) -> None:
    assert response.status_code in (statuses or (400, 422)), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_deeply_nested_backtest_params_are_a_400(client: TestClient) -> None:
    body = (
        '{"strategy":"sma_cross","series":["kraken:BTC/USDC:1m"],'
        '"start":"2024-01-01","end":"2024-01-02","params":' + nested(DEEP) + "}"
    )
    response = client.post(
        "/api/v1/backtests", content=body, headers={"content-type": "application/json"}
    )
    assert_client_error(response, 400)
    assert "nested" in response.json()["detail"]
    assert client.get("/api/v1/backtests").json()["backtests"] == []


def test_deeply_nested_job_cron_is_a_400(client: TestClient) -> None:
    body = '{"kind":"collect","name":"deep","cron":' + nested(DEEP) + "}"
    response = client.post(
        "/api/v1/jobs", content=body, headers={"content-type": "application/json"}
    )
    assert_client_error(response, 400)
    assert client.get("/api/v1/jobs").json()["jobs"] == []


def test_a_body_that_is_not_utf8_is_a_400(client: TestClient) -> None:
    body = b'{"exchange":"kraken","symbol":"BTC/USDC","timeframe":"1m","bars":[]}'
    bad = body.replace(b"kraken", b"kr\xff\xfeken")
    response = client.post(
        "/api/v1/bars", content=bad, headers={"content-type": "application/json"}
    )
    assert_client_error(response, 400)
    assert client.get("/api/v1/series").json()["series"] == []


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (
            "/api/v1/bars",
            {
                "exchange": "kraken",
                "symbol": "BTC/USDC",
                "timeframe": "1m",
                "start": "100000000000000000000",
            },
        ),
        (
            "/api/v1/bars",
            {
                "exchange": "kraken",
                "symbol": "BTC/USDC",
                "timeframe": "1m",
                "cursor": "100000000000000000000",
            },
        ),
        ("/api/v1/audit", {"before_seq": str(2**70)}),
        (
            "/api/v1/quality/issues",
            {"exchange": "kraken", "symbol": "BTC/USDC", "timeframe": "1m", "offset": str(2**70)},
        ),
    ],
)
def test_integers_out_of_range_in_query_parameters_are_refused(
    client: TestClient, path: str, params: dict[str, str]
) -> None:
    response = client.get(path, params=params)
    assert_client_error(response)
    body = response.json()
    named = body.get("field") or str(body.get("errors")) + body["detail"]
    assert any(
        name in named for name in params if name in ("start", "cursor", "before_seq", "offset")
    )


def test_nul_bytes_in_text_parameters_are_refused(client: TestClient) -> None:
    for params in ({"actor": "kraken\x00"}, {"action": "x\x00y"}):
        response = client.get("/api/v1/audit", params=params)
        assert_client_error(response, 422)
    response = client.get("/api/v1/backtests", params={"strategy": "kraken\x00"})
    assert_client_error(response, 422)


HOSTILE_VALUES = {
    "int beyond 64 bits": "1" * 25,
    "negative int beyond 64 bits": "-" + "9" * 22,
    "NUL byte": "kraken\x00",
}
HOSTILE_BODIES = {
    "deep nesting": nested(DEEP).encode(),
    "deep arrays": b"[" * 5000 + b"]" * 5000,
    "invalid UTF-8": b'{"name":"\xff\xfe"}',
    "truncated JSON": b'{"strategy": "sma',
}


def operations(client: TestClient) -> list[tuple[str, str, list[dict[str, Any]], bool]]:
    schema = client.get("/schema/openapi.json").json()
    found = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            params = [p for p in op.get("parameters", []) if p.get("in") in ("query", "path")]
            found.append((method.upper(), path, params, "requestBody" in op))
    return found


def fill(path: str, params: list[dict[str, Any]], value: str) -> str:
    for p in params:
        if p["in"] == "path":
            path = path.replace("{" + p["name"] + "}", value.replace("\x00", "%00"))
    return path


def test_every_route_answers_hostile_parameters_and_bodies_without_a_5xx(
    client: TestClient,
) -> None:
    """Generated from the OpenAPI document: every query and path parameter gets each hostile
    value, every route with a body gets each hostile body; no answer may be a 5xx."""
    ops = operations(client)
    assert len(ops) > 30
    server_errors = []
    for method, path, params, has_body in ops:
        for label, value in HOSTILE_VALUES.items():
            query = {p["name"]: value for p in params if p["in"] == "query"}
            response = client.request(method, fill(path, params, value), params=query)
            if response.status_code >= 500:
                server_errors.append(f"{method} {path} [{label}]: {response.status_code}")
        if has_body:
            for label, body in HOSTILE_BODIES.items():
                response = client.request(
                    method,
                    fill(path, params, "x"),
                    content=body,
                    headers={"content-type": "application/json"},
                )
                if response.status_code >= 500:
                    server_errors.append(f"{method} {path} [{label}]: {response.status_code}")
    assert not server_errors, "\n".join(server_errors)
