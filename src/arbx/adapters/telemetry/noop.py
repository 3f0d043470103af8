"""Telemetry off: every call is accepted and nothing is recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

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


class _NoSpan(Span):
    def set_attribute(self, key: str, value: AttributeValue) -> None:
        return None

    def set_error(self, description: str) -> None:
        return None

    def ids(self) -> tuple[str, str] | None:
        return None


class _NoInstrument(Counter, Histogram):
    def add(self, amount: float, attributes: Attributes | None = None) -> None:
        return None

    def record(self, value: float, attributes: Attributes | None = None) -> None:
        return None


_SPAN = _NoSpan()
_INSTRUMENT = _NoInstrument()


class _NoSpanContext(AbstractContextManager[Span]):
    """Stateless, so one instance serves every caller (no allocation per span)."""

    def __enter__(self) -> Span:
        return _SPAN

    def __exit__(self, *_: object) -> None:
        return None


NO_SPAN: AbstractContextManager[Span] = _NoSpanContext()


class NoTelemetry(Telemetry):
    enabled = False
    tracing = False

    def span(
        self, name: str, *, kind: SpanKind = SpanKind.INTERNAL, attributes: Attributes | None = None
    ) -> AbstractContextManager[Span]:
        return NO_SPAN

    def counter(self, name: str, *, unit: str = "1", description: str = "") -> Counter:
        return _INSTRUMENT

    def histogram(self, name: str, *, unit: str = "s", description: str = "") -> Histogram:
        return _INSTRUMENT

    def gauge(
        self,
        name: str,
        observe: Callable[[], Iterable[Observation]],
        *,
        unit: str = "1",
        description: str = "",
    ) -> None:
        return None

    def metrics_text(self) -> str:
        return ""

    def current_ids(self) -> tuple[str, str] | None:
        return None

    def shutdown(self) -> None:
        return None
