"""Optimization studies are observed (issue 18): an ``optimize.run`` span with the study's
trial counts and store spans of the study store; /metrics shows study durations and stored
trials; a failed study is an event the backtest_failed alert rules of its strategy read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dependency_injector import providers
from litestar.testing import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from arbx.app.observations import Observations
from arbx.entrypoints.container import Container, build_container, resolve
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import load_settings
from tests.e2e.conftest import make_admin_key
from tests.e2e.test_api_instrumentation import metric
from tests.e2e.test_api_optimizations import SMA_STUDY, _load_samples, wait_done
from tests.support.telemetry import recording_telemetry


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[TestClient, InMemorySpanExporter, Container]]:
    settings = load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "var")},
            "backtest": {"pool_workers": 1},
            "optimize": {"max_trials": 50},
        },
    )
    container = build_container(settings)
    telemetry, exporter = recording_telemetry()
    container.telemetry.override(providers.Object(telemetry))
    with TestClient(create_app(container)) as client:
        client.headers["X-API-Key"] = client.blocking_portal.call(make_admin_key, container)
        client.blocking_portal.call(_load_samples, container)
        yield client, exporter, container


def test_a_study_has_a_span_with_its_trial_counts_and_metrics(
    traced: tuple[TestClient, InMemorySpanExporter, Container],
) -> None:
    client, exporter, _ = traced
    accepted = client.post("/api/v1/optimizations", json=SMA_STUDY)
    assert accepted.status_code == 202, accepted.text
    study_id = accepted.json()["id"]
    assert wait_done(client, study_id)["status"] == "done"
    runs = [s for s in exporter.get_finished_spans() if s.name == "optimize.run"]
    assert len(runs) == 1
    attributes = dict(runs[0].attributes or {})
    assert attributes["arbx.study.id"] == study_id
    assert attributes["arbx.study.trials"] == 12
    assert attributes["arbx.study.trials_done"] == 12
    assert attributes["arbx.study.status"] == "done"
    stores = {s.name for s in exporter.get_finished_spans() if s.name.startswith("store.studies")}
    assert {"store.studies.add_trial", "store.studies.update"} <= stores
    text = client.get("/metrics").text
    durations = metric(text, "arbx_study_duration_seconds")
    counts = [v for name, labels, v in durations if name.endswith("_count")]
    assert counts == [1.0]
    assert [v for _, labels, v in metric(text, "arbx_study_trials") if labels] == [12.0]


def test_a_failed_study_is_an_event_for_backtest_failed_rules(
    traced: tuple[TestClient, InMemorySpanExporter, Container],
) -> None:
    client, _, container = traced
    study_id = client.post("/api/v1/optimizations", json=SMA_STUDY).json()["id"]
    wait_done(client, study_id)

    async def fail_it() -> Observations:
        studies = await resolve(container.stores)
        study = await studies.studies.get(study_id)
        import msgspec

        failed = msgspec.structs.replace(
            study,
            status="failed",
            error="worker lost",
            updated_at=datetime.now(UTC) + timedelta(seconds=1),
        )
        await studies.studies.update(failed)
        observations: Observations = await resolve(container.observations)
        return observations

    observations = client.blocking_portal.call(fail_it)
    failed = [e for e in observations.events_after(0) if e.kind == "backtest_failed"]
    assert [e.subject for e in failed] == ["sma_cross"]
    assert f"study {study_id}: worker lost" in failed[0].detail
