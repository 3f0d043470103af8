"""Telemetry through the real app: server spans per request (route, status, principal),
latency and error metrics at GET /metrics (parsed by prometheus_client), request ids."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dependency_injector import providers
from litestar.testing import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from arbx.entrypoints.container import Container, build_container
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import load_settings
from tests.e2e.conftest import AnonymousClient, make_admin_key
from tests.support.telemetry import recording_telemetry


@pytest.fixture
def spans(container: Container) -> InMemorySpanExporter:
    telemetry, exporter = recording_telemetry()
    container.telemetry.override(providers.Object(telemetry))
    return exporter


def samples(text: str, family: str) -> list[tuple[str, dict[str, str], float]]:
    for found in text_string_to_metric_families(text):
        if found.name == family:
            return [(s.name, dict(s.labels), s.value) for s in found.samples]
    return []


def test_every_request_gets_a_server_span_with_route_status_and_principal(
    spans: InMemorySpanExporter, client: TestClient
) -> None:
    assert client.get("/api/v1/series").status_code == 200
    assert client.get("/api/v1/jobs/no-such-job").status_code == 404
    finished = {s.name: s for s in spans.get_finished_spans() if s.kind.name == "SERVER"}
    ok = finished["GET /api/v1/series"]
    assert ok.attributes is not None
    assert ok.attributes["http.route"] == "/api/v1/series"
    assert ok.attributes["http.response.status_code"] == 200
    assert str(ok.attributes["enduser.id"]).startswith("api_key:")
    missing = finished["GET /api/v1/jobs/{job_id}"]
    assert missing.attributes is not None
    assert missing.attributes["http.response.status_code"] == 404


def test_metrics_show_latency_per_route_and_errors(
    spans: InMemorySpanExporter, client: TestClient, anonymous_client: AnonymousClient
) -> None:
    for _ in range(3):
        client.get("/api/v1/series")
    client.get("/api/v1/jobs/no-such-job")
    assert anonymous_client.get("/metrics").status_code == 401
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    latency = samples(response.text, "arbx_http_server_duration_seconds")
    counts = {
        (labels["route"], labels["status_code"]): value
        for name, labels, value in latency
        if name.endswith("_count")
    }
    assert counts[("/api/v1/series", "200")] == 3
    assert counts[("/api/v1/jobs/{job_id}", "404")] == 1
    errors = samples(response.text, "arbx_http_server_errors")
    counted = {
        (labels["route"], labels["status_code"]): value
        for name, labels, value in errors
        if name.endswith("_total")
    }
    assert counted == {("/api/v1/jobs/{job_id}", "404"): 1, ("/metrics", "401"): 1}


def test_request_ids_are_answered_and_a_safe_one_is_kept(
    spans: InMemorySpanExporter, client: TestClient
) -> None:
    fresh = client.get("/health").headers["x-request-id"]
    assert len(fresh) == 32
    assert client.get("/health").headers["x-request-id"] != fresh
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    hostile = client.get("/health", headers={"X-Request-ID": "a b<" * 30})
    assert hostile.headers["x-request-id"] != "a b<" * 30
    assert client.get("/no/such/route").headers["x-request-id"]  # unmatched routes too
    server = [s for s in spans.get_finished_spans() if s.name == "GET /health"]
    assert server[2].attributes is not None
    assert server[2].attributes["arbx.request_id"] == "abc-123"


def _app(tmp_path: Path, telemetry: dict[str, object]) -> Iterator[tuple[TestClient, str]]:
    settings = load_settings(
        profile="test",
        environ={},
        overrides={"storage": {"data_dir": str(tmp_path / "var")}, "telemetry": telemetry},
    )
    container = build_container(settings)
    with TestClient(create_app(container)) as test_client:
        yield test_client, test_client.blocking_portal.call(make_admin_key, container)


def test_metrics_can_be_public_or_off(tmp_path: Path) -> None:
    for test_client, _ in _app(tmp_path / "public", {"metrics_access": "public"}):
        test_client.get("/health")
        public = test_client.get("/metrics")
        assert public.status_code == 200
        assert samples(public.text, "arbx_http_server_duration_seconds")
    for test_client, key in _app(tmp_path / "off", {"metrics_access": "off"}):
        assert test_client.get("/metrics", headers={"X-API-Key": key}).status_code == 404


def test_telemetry_disabled_records_nothing_but_ids_stay(tmp_path: Path) -> None:
    for test_client, key in _app(tmp_path, {"enabled": False}):
        response = test_client.get("/metrics", headers={"X-API-Key": key})
        assert response.status_code == 404
        assert "telemetry is off" in response.json()["detail"]
        assert response.headers["x-request-id"]
