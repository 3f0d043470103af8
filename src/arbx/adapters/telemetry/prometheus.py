"""The Prometheus text exposition format (0.0.4) of an OpenTelemetry metrics snapshot.

Rendered from the SDK's own data (an ``InMemoryMetricReader`` collects on each scrape), so
no second metrics library runs in the process. Names: dots become underscores, the unit
becomes a suffix (``s`` -> ``_seconds``), monotonic sums end in ``_total``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    Sum,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_UNIT_SUFFIX = {"s": "seconds", "ms": "milliseconds", "By": "bytes", "bps": "bps"}
_NOT_NAME = re.compile(r"[^a-zA-Z0-9_:]")


def metric_name(name: str, unit: str) -> str:
    base = _NOT_NAME.sub("_", name)
    suffix = _UNIT_SUFFIX.get(unit)
    if suffix and not base.endswith("_" + suffix):
        base = f"{base}_{suffix}"
    return base


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(attributes: Mapping[str, object] | None, extra: tuple[str, str] | None = None) -> str:
    pairs = [(_NOT_NAME.sub("_", str(k)), str(v)) for k, v in (attributes or {}).items()]
    if extra is not None:
        pairs.append(extra)
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def render(data: MetricsData | None) -> str:
    """Every metric of ``data`` as exposition text (one HELP/TYPE per family)."""
    families: dict[str, list[str]] = {}
    headers: dict[str, tuple[str, str]] = {}
    for metric in _metrics(data):
        _family(metric, families, headers)
    out: list[str] = []
    for name, lines in families.items():
        kind, help_text = headers[name]
        out.append(f"# HELP {name} {_escape(help_text) or name}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(lines)
    return "\n".join(out) + "\n" if out else ""


def _metrics(data: MetricsData | None) -> Iterable[Metric]:
    if data is None:
        return
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            yield from scope.metrics


def _family(
    metric: Metric, families: dict[str, list[str]], headers: dict[str, tuple[str, str]]
) -> None:
    name = metric_name(metric.name, metric.unit or "")
    data = metric.data
    if isinstance(data, Histogram):
        lines = families.setdefault(name, [])
        headers[name] = ("histogram", metric.description or "")
        for point in data.data_points:
            lines.extend(_histogram_lines(name, point))
    elif isinstance(data, Sum):
        if data.is_monotonic:
            name = name if name.endswith("_total") else f"{name}_total"
            kind = "counter"
        else:
            kind = "gauge"
        lines = families.setdefault(name, [])
        headers[name] = (kind, metric.description or "")
        lines.extend(_number_line(name, p) for p in data.data_points)
    elif isinstance(data, Gauge):
        lines = families.setdefault(name, [])
        headers[name] = ("gauge", metric.description or "")
        lines.extend(_number_line(name, p) for p in data.data_points)


def _number_line(name: str, point: NumberDataPoint) -> str:
    return f"{name}{_labels(point.attributes)} {_number(float(point.value))}"


def _histogram_lines(name: str, point: HistogramDataPoint) -> list[str]:
    lines = []
    running = 0
    for bound, count in zip(point.explicit_bounds, point.bucket_counts, strict=False):
        running += count
        le = ("le", _number(float(bound)))
        lines.append(f"{name}_bucket{_labels(point.attributes, le)} {running}")
    lines.append(f"{name}_bucket{_labels(point.attributes, ('le', '+Inf'))} {point.count}")
    lines.append(f"{name}_sum{_labels(point.attributes)} {_number(float(point.sum))}")
    lines.append(f"{name}_count{_labels(point.attributes)} {point.count}")
    return lines
