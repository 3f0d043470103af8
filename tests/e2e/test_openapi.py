"""The OpenAPI document tells the truth: public routes need no credentials, every route
documents its problem answers as application/problem+json, and OPTIONS lists every method
of a path (issue 12)."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

PUBLIC = {
    ("get", "/health"),
    ("get", "/ready"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
}
METHODS = ("get", "put", "post", "delete", "patch")


def document(client: TestClient) -> dict[str, Any]:
    doc: dict[str, Any] = client.get("/schema/openapi.json").json()
    return doc


def test_public_routes_are_documented_without_credentials(client: TestClient) -> None:
    doc = document(client)
    for method, path in PUBLIC:
        assert doc["paths"][path][method]["security"] == [], (method, path)
    guarded = doc["paths"]["/api/v1/series"]["get"]
    assert guarded.get("security", doc.get("security")), "an API route lost its credentials"


def test_every_route_documents_its_problems_as_problem_json(client: TestClient) -> None:
    doc = document(client)
    assert "Problem" in doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            responses = item[method]["responses"]
            for code in ("400", "422", "503"):
                assert code in responses, (method, path, code)
            if (method, path) not in PUBLIC:
                for code in ("401", "403", "429"):
                    assert code in responses, (method, path, code)
            for code, answer in responses.items():
                if code >= "400":
                    assert list(answer["content"]) == ["application/problem+json"], (path, code)


def test_options_lists_every_method_of_the_path(client: TestClient) -> None:
    collection = client.options("/api/v1/backtests")
    assert collection.status_code == 204
    assert set(collection.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
    one = client.options("/api/v1/backtests/some-id")
    assert set(one.headers["allow"].split(", ")) == {"GET", "DELETE", "OPTIONS"}
    job = client.options("/api/v1/jobs/some-id")
    assert set(job.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE", "OPTIONS"}
