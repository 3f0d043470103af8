"""Telemetry for tests: the real SDK with its in-memory span exporter, and a small OTLP/HTTP
receiver (aiohttp on loopback) that decodes what an exporter sends."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from arbx.adapters.telemetry.otel import OtelTelemetry


def recording_telemetry() -> tuple[OtelTelemetry, InMemorySpanExporter]:
    """OpenTelemetry whose finished spans land in the returned exporter."""
    exporter = InMemorySpanExporter()
    telemetry = OtelTelemetry(
        service_name="arbx-test", span_processors=[SimpleSpanProcessor(exporter)]
    )
    return telemetry, exporter


@dataclass
class OtlpReceiver:
    url: str
    spans: list[str] = field(default_factory=list)  # span names, in arrival order
    span_attributes: dict[str, dict[str, object]] = field(default_factory=dict)
    trace_ids: list[str] = field(default_factory=list)  # hex, per span
    parent_ids: list[str] = field(default_factory=list)
    metrics: set[str] = field(default_factory=set)
    content_types: set[str] = field(default_factory=set)
    received: threading.Event = field(default_factory=threading.Event)


@contextmanager
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP (protobuf) receiver on 127.0.0.1 in its own thread and loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="otlp-receiver", daemon=True)
    thread.start()
    box: dict[str, OtlpReceiver] = {}

    async def traces(request: web.Request) -> web.Response:
        receiver = box["receiver"]
        receiver.content_types.add(request.content_type)
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        for resource in message.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    receiver.spans.append(span.name)
                    receiver.trace_ids.append(span.trace_id.hex())
                    receiver.parent_ids.append(span.parent_span_id.hex())
                    receiver.span_attributes[span.name] = {
                        a.key: a.value.string_value or a.value.int_value for a in span.attributes
                    }
        receiver.received.set()
        return web.Response(status=200, content_type="application/x-protobuf")

    async def metrics(request: web.Request) -> web.Response:
        receiver = box["receiver"]
        message = ExportMetricsServiceRequest()
        message.ParseFromString(await request.read())
        for resource in message.resource_metrics:
            for scope in resource.scope_metrics:
                receiver.metrics.update(metric.name for metric in scope.metrics)
        return web.Response(status=200, content_type="application/x-protobuf")

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/v1/traces", traces)
        app.router.add_post("/v1/metrics", metrics)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        box["receiver"] = OtlpReceiver(url=f"http://127.0.0.1:{port}")
        return runner

    runner = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    try:
        yield box["receiver"]
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
