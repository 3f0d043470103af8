"""Telemetry with the OpenTelemetry SDK: this process's own tracer and meter providers
(never the global ones, so two apps in one test process do not mix their data).

Spans go to the given span processors (OTLP/HTTP when an endpoint is configured); metrics
are collected by an in-memory reader for ``metrics_text`` (GET /metrics) and, with an
endpoint, pushed over OTLP/HTTP every ``export_interval_s``.
"""

from __future__ import annotations

import contextvars
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions
from opentelemetry.metrics import Observation as OtelObservation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import Status, StatusCode

from arbx.adapters.telemetry.noop import NO_SPAN
from arbx.adapters.telemetry.prometheus import render
from arbx.ports.telemetry import (
    Attributes,
    AttributeValue,
    Counter,
    Histogram,
    Observation,
    Span,
    SpanKind,
    Telemetry,
)

# seconds: from a cached read (1 ms) to a long backfill or backtest (10 min)
SECONDS_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 600.0,
)  # fmt: skip
_KINDS = {
    SpanKind.INTERNAL: trace.SpanKind.INTERNAL,
    SpanKind.SERVER: trace.SpanKind.SERVER,
    SpanKind.CLIENT: trace.SpanKind.CLIENT,
}


_LEFT_OUT: contextvars.ContextVar[bool] = contextvars.ContextVar("arbx_left_out", default=False)


class _LeftOut(AbstractContextManager[Span]):
    """The root of a trace left out by sampling: nothing inside it makes a span."""

    def __enter__(self) -> Span:
        self._token = _LEFT_OUT.set(True)
        return NO_SPAN.__enter__()

    def __exit__(self, *_: object) -> None:
        _LEFT_OUT.reset(self._token)


class _OtelSpan(Span):
    __slots__ = ("_span",)

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self._span.set_attribute(key, value)

    def set_error(self, description: str) -> None:
        self._span.set_status(Status(StatusCode.ERROR, description))

    def ids(self) -> tuple[str, str] | None:
        return _ids(self._span)


def _ids(span: trace.Span) -> tuple[str, str] | None:
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


class _Counter(Counter):
    __slots__ = ("_counter",)

    def __init__(self, counter: Any) -> None:
        self._counter = counter

    def add(self, amount: float, attributes: Attributes | None = None) -> None:
        self._counter.add(amount, attributes)


class _Histogram(Histogram):
    __slots__ = ("_histogram",)

    def __init__(self, histogram: Any) -> None:
        self._histogram = histogram

    def record(self, value: float, attributes: Attributes | None = None) -> None:
        self._histogram.record(value, attributes)


class OtelTelemetry(Telemetry):
    """``span_processors`` receive the spans sampled (``sample_ratio`` of the traces, a
    trace's children follow its root). Without processors no span is made at all (nobody
    would receive it; logs then carry the request id only). ``metric_readers``
    collect beside the reader of ``metrics_text``. ``traces`` False makes no spans at all."""

    enabled = True

    def __init__(
        self,
        *,
        service_name: str,
        span_processors: Sequence[SpanProcessor] = (),
        metric_readers: Sequence[MetricReader] = (),
        traces: bool = True,
        sample_ratio: float = 1.0,
        resource_attributes: Mapping[str, str] | None = None,
    ) -> None:
        resource = Resource.create({"service.name": service_name, **(resource_attributes or {})})
        # sampled here, per new trace, before any span is made (a left-out request costs a
        # random number, not a span tree of non-recording spans)
        self._ratio = sample_ratio
        self._random = random.Random().random
        self._tracer_provider = TracerProvider(resource=resource)
        for processor in span_processors:
            self._tracer_provider.add_span_processor(processor)
        self._tracer = self._tracer_provider.get_tracer("arbx")
        self.tracing = traces and bool(span_processors)
        self._scrape = InMemoryMetricReader()
        self._meter_provider = MeterProvider(
            metric_readers=[self._scrape, *metric_readers], resource=resource
        )
        self._meter = self._meter_provider.get_meter("arbx")
        self._instruments: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._closed = False

    def span(
        self, name: str, *, kind: SpanKind = SpanKind.INTERNAL, attributes: Attributes | None = None
    ) -> AbstractContextManager[Span]:
        if not self.tracing or _LEFT_OUT.get():
            return NO_SPAN  # a trace left out by sampling: its children would be dropped too
        if (
            self._ratio < 1.0
            and not trace.get_current_span().get_span_context().is_valid
            and self._random() >= self._ratio
        ):
            return _LeftOut()  # a new trace, not sampled: no span in it at all
        return self._span(name, kind, attributes)

    @contextmanager
    def _span(self, name: str, kind: SpanKind, attributes: Attributes | None) -> Iterator[Span]:
        with self._tracer.start_as_current_span(
            name, kind=_KINDS[kind], attributes=attributes
        ) as span:
            yield _OtelSpan(span)

    def counter(self, name: str, *, unit: str = "1", description: str = "") -> Counter:
        counter: Counter = self._instrument(
            name,
            lambda: _Counter(self._meter.create_counter(name, unit=unit, description=description)),
        )
        return counter

    def histogram(self, name: str, *, unit: str = "s", description: str = "") -> Histogram:
        bounds = SECONDS_BUCKETS if unit == "s" else None
        histogram: Histogram = self._instrument(
            name,
            lambda: _Histogram(
                self._meter.create_histogram(
                    name,
                    unit=unit,
                    description=description,
                    explicit_bucket_boundaries_advisory=bounds,
                )
            ),
        )
        return histogram

    def gauge(
        self,
        name: str,
        observe: Callable[[], Iterable[Observation]],
        *,
        unit: str = "1",
        description: str = "",
    ) -> None:
        def callback(_: CallbackOptions) -> Iterable[OtelObservation]:
            return [OtelObservation(value, dict(attrs)) for value, attrs in observe()]

        with self._lock:
            if name in self._instruments:
                raise ValueError(f"gauge {name!r} is registered already")
            self._instruments[name] = self._meter.create_observable_gauge(
                name, callbacks=[callback], unit=unit, description=description
            )

    def _instrument(self, name: str, make: Callable[[], Any]) -> Any:
        found = self._instruments.get(name)
        if found is None:
            with self._lock:
                found = self._instruments.get(name)
                if found is None:
                    found = self._instruments[name] = make()
        return found

    def metrics_text(self) -> str:
        return render(self._scrape.get_metrics_data())

    def current_ids(self) -> tuple[str, str] | None:
        return _ids(trace.get_current_span())

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._tracer_provider.shutdown()
        self._meter_provider.shutdown()


def otlp_telemetry(
    *,
    service_name: str,
    endpoint: str,
    headers: Mapping[str, str],
    export_interval_s: float,
    timeout_s: float,
    traces: bool,
    sample_ratio: float = 1.0,
) -> OtelTelemetry:
    """Spans (batched) and metrics (every ``export_interval_s``) to an OTLP/HTTP collector
    at ``endpoint`` (``/v1/traces`` and ``/v1/metrics`` below it); none when it is empty."""
    processors: list[SpanProcessor] = []
    readers: list[MetricReader] = []
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        base = endpoint.rstrip("/")
        processors.append(
            BatchSpanProcessor(
                OTLPSpanExporter(
                    endpoint=f"{base}/v1/traces", headers=dict(headers), timeout=timeout_s
                )
            )
        )
        readers.append(
            PeriodicExportingMetricReader(
                OTLPMetricExporter(
                    endpoint=f"{base}/v1/metrics", headers=dict(headers), timeout=timeout_s
                ),
                export_interval_millis=export_interval_s * 1000,
            )
        )
    return OtelTelemetry(
        service_name=service_name,
        span_processors=processors,
        metric_readers=readers,
        traces=traces,
        sample_ratio=sample_ratio,
    )
