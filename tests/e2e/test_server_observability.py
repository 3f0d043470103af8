"""Observability and alerts on the server profile (PostgreSQL): store spans name postgresql,
the pool shows in /metrics and the admin health, alert rules and transitions live in
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dependency_injector import providers
from litestar.testing import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from arbx.entrypoints.container import build_container
from arbx.entrypoints.http.app import create_app
from tests.e2e.conftest import make_admin_key
from tests.e2e.test_server_profile import (
    TcpProxy,
    count_rows,
    proxied_url,
    proxy,  # noqa: F401 - fixture
    schema,  # noqa: F401 - fixture
    server_settings,
)
from tests.support.postgres import PostgresTestDatabase
from tests.support.telemetry import recording_telemetry

pytestmark = pytest.mark.postgres


@pytest.fixture
def traced_server(
    tmp_path: Path,
    postgres_database: PostgresTestDatabase,
    proxy: TcpProxy,  # noqa: F811
    schema: str,  # noqa: F811
) -> Iterator[tuple[TestClient, InMemorySpanExporter]]:
    settings = server_settings(tmp_path, proxied_url(postgres_database, proxy), schema)
    container = build_container(settings)
    telemetry, exporter = recording_telemetry()
    container.telemetry.override(providers.Object(telemetry))
    with TestClient(create_app(container)) as client:
        client.headers["X-API-Key"] = client.blocking_portal.call(make_admin_key, container)
        yield client, exporter


def test_pool_spans_and_alerts_on_postgres(
    traced_server: tuple[TestClient, InMemorySpanExporter],
    postgres_database: PostgresTestDatabase,
    schema: str,  # noqa: F811
) -> None:
    client, exporter = traced_server
    assert client.get("/api/v1/series").status_code == 200
    stores = [s for s in exporter.get_finished_spans() if s.name.startswith("store.")]
    assert stores
    assert {s.attributes["db.system"] for s in stores if s.attributes} == {"postgresql"}

    pool = {
        dict(sample.labels)["state"]: sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        if family.name == "arbx_db_pool_connections"
        for sample in family.samples
    }
    assert pool["max"] == 4
    assert pool["in_use"] + pool["idle"] >= 1
    health = {c["name"]: c for c in client.get("/api/v1/admin/health").json()["components"]}
    assert health["pool"]["ok"]
    assert "max 4" in health["pool"]["detail"]
    assert health["database"]["ok"]

    rule = {"name": "breaker", "kind": "breaker_open", "cooldown_s": 0}
    assert client.post("/api/v1/alerts/rules", json=rule).status_code == 201
    assert count_rows(postgres_database, schema, "alert_rules") == 1
    assert client.post("/api/v1/alerts/evaluate").json() == {"transitions": []}
    assert client.get("/api/v1/alerts/history").json() == {"count": 0, "transitions": []}
