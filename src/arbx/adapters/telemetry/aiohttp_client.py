"""Client spans and latency for every outbound request of the process's aiohttp session
(the venues' market-data calls, webhooks), through aiohttp's own tracing hooks."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from types import SimpleNamespace
from typing import Any

import aiohttp

from arbx.ports.telemetry import Span, SpanKind, Telemetry


def client_trace_configs(telemetry: Telemetry) -> list[aiohttp.TraceConfig]:
    """The trace configs for ``aiohttp.ClientSession(trace_configs=...)`` (none when off)."""
    if not telemetry.enabled:
        return []
    duration = telemetry.histogram(
        "arbx.http.client.duration", unit="s", description="outbound HTTP requests by host"
    )
    config = aiohttp.TraceConfig()

    async def start(_: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any) -> None:
        url = params.url
        manager: AbstractContextManager[Span] = telemetry.span(
            f"{params.method} {url.host}",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": params.method,
                "server.address": url.host or "",
                "server.port": url.port or 0,
                "url.path": url.path,
            },
        )
        ctx.arbx_span = (manager, manager.__enter__(), time.perf_counter(), url.host or "")

    def finish(ctx: SimpleNamespace, status: int | None, error: BaseException | None) -> None:
        found = getattr(ctx, "arbx_span", None)
        if found is None:
            return
        ctx.arbx_span = None
        manager, span, started, host = found
        labels = {"host": host, "status_code": status if status is not None else 0}
        duration.record(time.perf_counter() - started, labels)
        if status is not None:
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_error(f"HTTP {status}")
        if error is not None:
            manager.__exit__(type(error), error, error.__traceback__)
        else:
            manager.__exit__(None, None, None)

    async def end(_: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any) -> None:
        finish(ctx, params.response.status, None)

    async def failed(_: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any) -> None:
        finish(ctx, None, params.exception)

    config.on_request_start.append(start)
    config.on_request_end.append(end)
    config.on_request_exception.append(failed)
    return [config]
