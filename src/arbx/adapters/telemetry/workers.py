"""Trace context carried into worker processes: a call submitted inside a span runs, in the
worker, inside a child span of it, exported from there to the same OTLP endpoint.

``TracedExecutor`` wraps any ``Executor``: it submits ``traced_call`` (module level, so it
pickles) with the W3C ``traceparent`` of the current span and the exporter's settings; the
worker makes its own tracer once per process (spans exported one by one: worker calls are
few and long). Without tracing, calls are submitted as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import msgspec
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from arbx.ports.executor import Executor, Shared, Submission
from arbx.ports.telemetry import Telemetry

P = ParamSpec("P")
T = TypeVar("T")
_PROPAGATOR = TraceContextTextMapPropagator()


class WorkerTracing(msgspec.Struct, frozen=True):
    """What a worker needs to export its spans (plain values: they travel by pickle)."""

    service_name: str
    endpoint: str
    headers: dict[str, str]
    timeout_s: float


_TRACERS: dict[tuple[object, ...], trace.Tracer] = {}


def _worker_tracer(config: WorkerTracing) -> trace.Tracer:
    key = (config.service_name, config.endpoint, tuple(sorted(config.headers.items())))
    found = _TRACERS.get(key)
    if found is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        provider = TracerProvider(
            resource=Resource.create({"service.name": config.service_name, "arbx.worker": True})
        )
        exporter = OTLPSpanExporter(
            endpoint=f"{config.endpoint.rstrip('/')}/v1/traces",
            headers=dict(config.headers),
            timeout=config.timeout_s,
        )
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        found = _TRACERS[key] = provider.get_tracer("arbx.worker")
    return found


def traced_call(
    config: WorkerTracing,
    carrier: dict[str, str],
    name: str,
    fn: Callable[..., T],
    *args: Any,
    **kwargs: Any,
) -> T:
    """Run ``fn`` in a span that continues the trace in ``carrier`` (in the worker)."""
    parent = _PROPAGATOR.extract(carrier)
    with _worker_tracer(config).start_as_current_span(f"worker {name}", context=parent):
        return fn(*args, **kwargs)


class TracedExecutor(Executor):
    def __init__(self, inner: Executor, telemetry: Telemetry, config: WorkerTracing | None) -> None:
        self._inner = inner
        self._telemetry = telemetry
        self._config = config

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Submission[T]:
        if self._config is None or not self._telemetry.tracing:
            return self._inner.submit(fn, *args, **kwargs)
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        if not carrier:  # no span active here: nothing to continue
            return self._inner.submit(fn, *args, **kwargs)
        name = getattr(fn, "__qualname__", type(fn).__name__)
        submit: Callable[..., Submission[T]] = self._inner.submit
        return submit(traced_call, self._config, carrier, name, fn, *args, **kwargs)

    def share(self, value: T) -> Shared[T]:
        return self._inner.share(value)

    def release(self, shared: Shared[object]) -> None:
        self._inner.release(shared)

    async def shutdown(self) -> None:
        await self._inner.shutdown()

    def warm(self) -> None:
        self._inner.warm()
