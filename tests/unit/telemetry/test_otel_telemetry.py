"""The OpenTelemetry adapter with the SDK's in-memory exporter, its Prometheus text read back
by prometheus_client's parser, OTLP/HTTP export to a local receiver, and JSON logs."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind as OtelKind
from opentelemetry.trace import StatusCode
from prometheus_client.parser import text_string_to_metric_families

from arbx.adapters.telemetry.logs import REQUEST_ID, JsonLogFormatter
from arbx.adapters.telemetry.noop import NoTelemetry
from arbx.adapters.telemetry.otel import OtelTelemetry, otlp_telemetry
from arbx.ports.telemetry import SpanKind
from tests.support.telemetry import otlp_receiver, recording_telemetry


def families(text: str) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_spans_nest_carry_attributes_and_record_errors() -> None:
    telemetry, exporter = recording_telemetry()
    with telemetry.span("outer", kind=SpanKind.SERVER, attributes={"a": 1}) as outer:
        outer.set_attribute("b", "two")
        with pytest.raises(ValueError), telemetry.span("inner"):
            raise ValueError("boom")
        ids = telemetry.current_ids()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"outer", "inner"}
    assert spans["outer"].kind is OtelKind.SERVER
    assert dict(spans["outer"].attributes or {}) == {"a": 1, "b": "two"}
    assert spans["inner"].parent is not None
    assert spans["inner"].parent.span_id == spans["outer"].context.span_id
    assert spans["inner"].status.status_code is StatusCode.ERROR
    assert spans["inner"].events[0].name == "exception"
    assert ids == (format(spans["outer"].context.trace_id, "032x"),
                   format(spans["outer"].context.span_id, "016x"))  # fmt: skip
    assert telemetry.current_ids() is None


def test_metrics_render_as_prometheus_text() -> None:
    telemetry, _ = recording_telemetry()
    rows = telemetry.counter("arbx.ingest.rows", description="rows written")
    rows.add(5, {"venue": "binance"})
    rows.add(2, {"venue": "binance"})
    rows.add(1, {"venue": 'kra"ken'})
    latency = telemetry.histogram("arbx.job.duration", description="job runs")
    for value in (0.004, 0.2, 3.0):
        latency.record(value, {"kind": "collect"})
    telemetry.gauge("arbx.breaker.open", lambda: [(1.0, {"venue": "kraken"})])
    parsed = families(telemetry.metrics_text())

    counter = parsed["arbx_ingest_rows"]
    assert counter.type == "counter"  # type: ignore[attr-defined]
    values = {s.labels["venue"]: s.value for s in counter.samples if s.name.endswith("_total")}  # type: ignore[attr-defined]
    assert values == {"binance": 7.0, 'kra"ken': 1.0}

    histogram = parsed["arbx_job_duration_seconds"]
    samples = {(s.name, s.labels.get("le")): s.value for s in histogram.samples}  # type: ignore[attr-defined]
    assert samples[("arbx_job_duration_seconds_count", None)] == 3
    assert samples[("arbx_job_duration_seconds_sum", None)] == pytest.approx(3.204)
    assert samples[("arbx_job_duration_seconds_bucket", "0.005")] == 1
    assert samples[("arbx_job_duration_seconds_bucket", "0.25")] == 2
    assert samples[("arbx_job_duration_seconds_bucket", "+Inf")] == 3

    gauge = parsed["arbx_breaker_open"]
    assert gauge.type == "gauge"  # type: ignore[attr-defined]
    assert [(s.labels, s.value) for s in gauge.samples] == [({"venue": "kraken"}, 1.0)]  # type: ignore[attr-defined]


def test_the_same_name_is_the_same_instrument_and_gauges_are_unique() -> None:
    telemetry, _ = recording_telemetry()
    assert telemetry.counter("arbx.x") is telemetry.counter("arbx.x")
    telemetry.gauge("arbx.g", lambda: [])
    with pytest.raises(ValueError, match="registered already"):
        telemetry.gauge("arbx.g", lambda: [])


def test_without_an_exporter_no_span_is_made_but_metrics_are() -> None:
    telemetry = OtelTelemetry(service_name="arbx")
    assert not telemetry.tracing
    with telemetry.span("x") as span:
        assert span.ids() is None
        assert telemetry.current_ids() is None
    telemetry.counter("arbx.c").add(2)
    assert "arbx_c_total 2" in telemetry.metrics_text()


def test_sampling_keeps_a_share_of_whole_traces() -> None:
    exporter = InMemorySpanExporter()
    telemetry = OtelTelemetry(
        service_name="arbx", span_processors=[SimpleSpanProcessor(exporter)], sample_ratio=0.25
    )
    for _ in range(400):
        with telemetry.span("root"), telemetry.span("child"):
            pass
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.name == "root"]
    assert 40 <= len(roots) <= 160
    assert len(spans) == 2 * len(roots)  # a sampled root keeps its child


def test_no_telemetry_records_nothing() -> None:
    telemetry = NoTelemetry()
    with telemetry.span("x") as span:
        span.set_attribute("a", 1)
        telemetry.counter("c").add(1)
        assert span.ids() is None
    assert telemetry.metrics_text() == ""
    assert telemetry.current_ids() is None


def test_otlp_http_export_reaches_a_receiver() -> None:
    with otlp_receiver() as receiver:
        telemetry = otlp_telemetry(
            service_name="arbx-otlp",
            endpoint=receiver.url,
            headers={"x-tenant": "t1"},
            export_interval_s=60.0,
            timeout_s=5.0,
            traces=True,
        )
        with telemetry.span("job.run", attributes={"arbx.job.kind": "collect"}):
            telemetry.counter("arbx.job.runs").add(1, {"status": "succeeded"})
        telemetry.shutdown()  # flushes the batch of spans and the last metrics
        assert receiver.received.wait(10)
    assert receiver.spans == ["job.run"]
    assert receiver.span_attributes["job.run"] == {"arbx.job.kind": "collect"}
    assert "arbx.job.runs" in receiver.metrics
    assert receiver.content_types == {"application/x-protobuf"}


def test_json_logs_carry_trace_span_and_request_ids() -> None:
    telemetry, exporter = recording_telemetry()
    formatter = JsonLogFormatter()
    record = logging.LogRecord("arbx.t", logging.WARNING, __file__, 1, "hi %s", ("there",), None)
    token = REQUEST_ID.set("req-1")
    try:
        with telemetry.span("work"):
            inside = json.loads(formatter.format(record))
    finally:
        REQUEST_ID.reset(token)
    outside = json.loads(formatter.format(record))
    span = exporter.get_finished_spans()[0]
    assert inside["message"] == "hi there"
    assert inside["level"] == "WARNING"
    assert inside["trace_id"] == format(span.context.trace_id, "032x")
    assert inside["span_id"] == format(span.context.span_id, "016x")
    assert inside["request_id"] == "req-1"
    assert "trace_id" not in outside
    assert "request_id" not in outside
