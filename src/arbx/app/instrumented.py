"""Spans and duration metrics around any object's async methods.

``traced(store, telemetry, "store.bars", system="sqlite")`` returns ``store`` with its
public async methods wrapped: each call records one span (``store.bars.read``) and one
``arbx.operation.duration`` sample (component, operation, outcome). ``on_result`` hooks see the arguments and
the result of a successful call (rows written, a finished job run...). With telemetry off
and no hooks nothing is wrapped: no cost.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from arbx.ports.telemetry import AttributeValue, Histogram, SpanKind, Telemetry

T = TypeVar("T")
ResultHook = Callable[[tuple[Any, ...], dict[str, Any], Any], None]
"""Called after a successful call with (args, kwargs, result); it must not raise."""
Annotation = Callable[[tuple[Any, ...], dict[str, Any], Any], Mapping[str, AttributeValue]]
"""Span attributes from a successful call's (args, kwargs, result) (a study's trial counts),
set on its span before it ends; it must not raise."""


def traced(
    target: T,
    telemetry: Telemetry,
    component: str,
    *,
    system: str | None = None,
    on_result: Mapping[str, ResultHook] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    measure: bool = True,
    annotate: Mapping[str, Annotation] | None = None,
) -> T:
    """``measure`` False records spans only (no duration sample: the hot store calls).
    ``target`` itself, its public async methods wrapped in place (instance attributes
    shadowing the class's), so it keeps its type for every ``isinstance`` check."""
    hooks = dict(on_result or {})
    measure = measure and telemetry.enabled
    if not telemetry.tracing and not measure and not hooks:
        return target  # nothing would be recorded: no wrapper, no cost
    duration = telemetry.histogram(
        "arbx.operation.duration",
        unit="s",
        description="store calls, use cases and jobs by component and operation",
    )
    for name in dir(type(target)):
        if name.startswith("_"):
            continue
        method = getattr(target, name, None)
        if method is None or not inspect.iscoroutinefunction(method):
            continue
        if not telemetry.tracing and not measure and name not in hooks:
            continue
        wrapped = _wrap(
            telemetry, duration if measure else None, component, name, method, system,
            hooks.get(name), kind, (annotate or {}).get(name),
        )  # fmt: skip
        try:
            setattr(target, name, wrapped)
        except (AttributeError, TypeError):  # slots or frozen: left as it is
            return target
    return target


def _wrap(
    telemetry: Telemetry,
    duration: Histogram | None,
    component: str,
    name: str,
    method: Callable[..., Any],
    system: str | None,
    hook: ResultHook | None,
    kind: SpanKind,
    annotation: Annotation | None = None,
) -> Callable[..., Any]:
    span_name = f"{component}.{name}"
    base: dict[str, str] = {"arbx.component": component, "arbx.operation": name}
    if system:
        base["db.system"] = system
    labels_ok = {"component": component, "operation": name, "outcome": "ok"}
    labels_error = {**labels_ok, "outcome": "error"}
    record = telemetry.tracing or duration is not None

    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        if not record:
            result = await method(*args, **kwargs)
        else:
            if duration is None:
                with telemetry.span(span_name, kind=kind, attributes=base) as span:
                    result = await method(*args, **kwargs)
                    if annotation is not None:
                        for key, value in annotation(args, kwargs, result).items():
                            span.set_attribute(key, value)
            else:
                started = time.perf_counter()
                try:
                    with telemetry.span(span_name, kind=kind, attributes=base) as span:
                        result = await method(*args, **kwargs)
                        if annotation is not None:
                            for key, value in annotation(args, kwargs, result).items():
                                span.set_attribute(key, value)
                except BaseException:
                    duration.record(time.perf_counter() - started, labels_error)
                    raise
                duration.record(time.perf_counter() - started, labels_ok)
        if hook is not None:
            hook(args, kwargs, result)
        return result

    return call
