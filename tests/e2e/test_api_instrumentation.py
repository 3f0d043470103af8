"""Spans and metrics of the work behind the API, against the fake venue servers on the local
profile: an ingest run makes an ingest span, outbound client spans, store spans (with the
database system) and job-run metrics; /metrics shows rows written per venue and breakers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from litestar.testing import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from arbx.entrypoints.container import build_container
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import load_settings
from tests.e2e.conftest import make_admin_key, venue_overrides
from tests.support.exchanges import FakeExchanges
from tests.support.telemetry import recording_telemetry

DAY = {"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T06:00:00Z"}


@pytest.fixture
def traced_client(
    tmp_path: Path, threaded_venues: FakeExchanges
) -> Iterator[tuple[TestClient, InMemorySpanExporter]]:
    settings = load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "var")},
            "exchanges": venue_overrides(threaded_venues),
        },
    )
    container = build_container(settings)
    telemetry, exporter = recording_telemetry()
    container.telemetry.override(providers.Object(telemetry))
    with TestClient(create_app(container)) as client:
        client.headers["X-API-Key"] = client.blocking_portal.call(make_admin_key, container)
        yield client, exporter


def metric(text: str, family: str) -> list[tuple[str, dict[str, str], float]]:
    for found in text_string_to_metric_families(text):
        if found.name == family:
            return [(s.name, dict(s.labels), s.value) for s in found.samples]
    return []


def wait_done(client: TestClient, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        body: dict[str, Any] = client.get(f"/api/v1/ingest/{run_id}").json()
        if body["status"] not in ("queued", "running"):
            return body
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_an_ingest_is_traced_from_request_to_store(
    traced_client: tuple[TestClient, InMemorySpanExporter],
) -> None:
    client, exporter = traced_client
    body = {"exchange": "binance", "symbol": "BTC/USDC", "timeframe": "1m", **DAY}
    accepted = client.post("/api/v1/ingest", json=body)
    assert accepted.status_code == 202, accepted.text
    assert wait_done(client, accepted.json()["run_id"])["status"] == "succeeded"

    spans = exporter.get_finished_spans()
    names = {span.name for span in spans}
    assert {"ingest.execute", "store.bars.write", "store.jobs.finish_run"} <= names
    outbound = [s for s in spans if s.kind.name == "CLIENT"]
    assert outbound, names
    assert all(s.attributes and s.attributes["http.response.status_code"] == 200 for s in outbound)
    assert {s.attributes["server.address"] for s in outbound if s.attributes} == {"127.0.0.1"}
    ingest = next(s for s in spans if s.name == "ingest.execute")
    inside = [s for s in outbound if s.context.trace_id == ingest.context.trace_id]
    assert inside, "the venue calls belong to the ingest's trace"
    write = next(s for s in spans if s.name == "store.bars.write")
    assert write.attributes is not None
    assert write.attributes["db.system"] == "parquet"

    text = client.get("/metrics").text
    rows = {
        labels["venue"]: value
        for name, labels, value in metric(text, "arbx_bars_written")
        if name.endswith("_total")
    }
    stored = client.get("/api/v1/series").json()["series"]
    assert rows == {"binance": sum(s["rows"] for s in stored)}
    assert rows["binance"] == 360
    runs = [
        labels["status"]
        for name, labels, _ in metric(text, "arbx_job_runs")
        if name.endswith("_total")
    ]
    assert runs == ["succeeded"]
    breakers = {
        labels["venue"]: value for _, labels, value in metric(text, "arbx_exchange_breaker")
    }
    assert breakers == {"binance": 0.0, "binanceus": 0.0, "coinbase": 0.0, "kraken": 0.0}
    operations = {
        (labels["component"], labels["operation"])
        for name, labels, _ in metric(text, "arbx_operation_duration_seconds")
        if name.endswith("_count")
    }
    assert ("ingest", "execute") in operations
    assert not any(component.startswith("store.") for component, _ in operations)  # spans only
