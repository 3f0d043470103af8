"""The telemetry port: spans, counters, histograms and observed gauges.

The core and the faces name what happened ("http.request", "job.run", "arbx.ingest.rows")
and never which library records it. ``NoTelemetry`` (adapters/telemetry/noop.py) records
nothing; the OpenTelemetry adapter exports spans over OTLP/HTTP and serves metrics as
Prometheus text. Metric names use dots; exporters translate them (``arbx_ingest_rows_total``).
"""

from __future__ import annotations

import enum
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Protocol

AttributeValue = str | int | float | bool
Attributes = Mapping[str, AttributeValue]
Observation = tuple[float, Attributes]
"""One value of an observed gauge with its attributes (e.g. ``(1.0, {"venue": "kraken"})``)."""


class SpanKind(enum.Enum):
    INTERNAL = "internal"
    SERVER = "server"  # an incoming request
    CLIENT = "client"  # an outgoing call (an exchange, a webhook)


class Span(Protocol):
    """The span being recorded; errors raised through its context are recorded by the port."""

    @abstractmethod
    def set_attribute(self, key: str, value: AttributeValue) -> None: ...

    @abstractmethod
    def set_error(self, description: str) -> None:
        """Mark the span failed without an exception (an HTTP 5xx answer)."""

    @abstractmethod
    def ids(self) -> tuple[str, str] | None:
        """(trace id, span id) in hex, or None when nothing is recorded."""


class Counter(Protocol):
    @abstractmethod
    def add(self, amount: float, attributes: Attributes | None = None) -> None: ...


class Histogram(Protocol):
    @abstractmethod
    def record(self, value: float, attributes: Attributes | None = None) -> None: ...


class Telemetry(Protocol):
    """Where spans and metrics go. Instruments with the same name are the same instrument;
    ``gauge`` callbacks run when metrics are collected (keep them cheap and non-blocking).
    ``enabled``: metrics are collected; ``tracing``: spans are recorded for an exporter
    (when False, ``span`` costs nothing and has no ids)."""

    enabled: bool
    tracing: bool

    @abstractmethod
    def span(
        self, name: str, *, kind: SpanKind = SpanKind.INTERNAL, attributes: Attributes | None = None
    ) -> AbstractContextManager[Span]: ...

    @abstractmethod
    def counter(self, name: str, *, unit: str = "1", description: str = "") -> Counter: ...

    @abstractmethod
    def histogram(self, name: str, *, unit: str = "s", description: str = "") -> Histogram: ...

    @abstractmethod
    def gauge(
        self,
        name: str,
        observe: Callable[[], Iterable[Observation]],
        *,
        unit: str = "1",
        description: str = "",
    ) -> None: ...

    @abstractmethod
    def metrics_text(self) -> str:
        """Every metric now, in the Prometheus text exposition format (empty when off)."""

    @abstractmethod
    def current_ids(self) -> tuple[str, str] | None:
        """(trace id, span id) of the span active in this task, if any."""

    @abstractmethod
    def shutdown(self) -> None:
        """Flush what is buffered (spans, metrics) to the exporters and stop them."""
