"""HTTP telemetry: a server span and latency/error metrics per request, and a request id.

The middleware runs once the router has matched a route (the route template names the
span and labels the metrics, never the raw path: /api/v1/jobs/{job_id:str}, not one series
per id). The request id is answered on every response, unmatched routes too, by the
``before_send`` hook.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from arbx.adapters.telemetry.logs import REQUEST_ID
from arbx.domain.auth import Principal
from arbx.entrypoints.http.security import _PRINCIPAL
from arbx.ports.telemetry import Attributes, SpanKind, Telemetry

if TYPE_CHECKING:
    from litestar import Litestar

    from arbx.entrypoints.container import Container

REQUEST_ID_STATE = "arbx_request_id"
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_of(scope: Scope, header: str) -> str:
    """The request's id: the caller's own (when safe to echo), else a new one; once."""
    state: dict[str, Any] = scope.setdefault("state", {})
    found = state.get(REQUEST_ID_STATE)
    if isinstance(found, str):
        return found
    given = Headers.from_scope(scope).get(header)
    request_id = given if given is not None and _SAFE_ID.fullmatch(given) else uuid.uuid4().hex
    state[REQUEST_ID_STATE] = request_id
    return request_id


def request_id_header(header: str) -> Callable[[Message, Scope], Awaitable[None]]:
    """A ``before_send`` hook: the request id on every response (a coroutine: Litestar runs
    a plain function hook in a worker thread)."""

    async def hook(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            MutableScopeHeaders.from_message(message)[header] = request_id_of(scope, header)

    return hook


class HttpTelemetry:
    """Builds the middleware of one app over ``telemetry`` (instruments made once)."""

    def __init__(self, telemetry: Telemetry, *, header: str) -> None:
        self.telemetry = telemetry
        self.header = header
        self.duration = telemetry.histogram(
            "arbx.http.server.duration", unit="s", description="HTTP request latency by route"
        )
        self.errors = telemetry.counter(
            "arbx.http.server.errors", description="HTTP answers with status >= 400, by route"
        )

    def middleware(self, app: ASGIApp) -> ASGIApp:
        return _TelemetryMiddleware(app, self)


class _TelemetryMiddleware:
    def __init__(self, app: ASGIApp, http: HttpTelemetry) -> None:
        self.app = app
        self.http = http

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if str(scope["type"]) != "http":
            await self.app(scope, receive, send)
            return
        http = self.http
        request_id = request_id_of(scope, http.header)
        token = REQUEST_ID.set(request_id)
        method = str(scope.get("method", "GET"))
        route = str(scope.get("path_template") or scope.get("path", ""))
        status = 500
        started = time.perf_counter()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            with http.telemetry.span(
                f"{method} {route}",
                kind=SpanKind.SERVER,
                attributes={
                    "http.request.method": method,
                    "http.route": route,
                    "arbx.request_id": request_id,
                },
            ) as span:
                try:
                    await self.app(scope, receive, capture)
                finally:
                    span.set_attribute("http.response.status_code", status)
                    principal = scope.get("state", {}).get(_PRINCIPAL)
                    if isinstance(principal, Principal):
                        span.set_attribute("enduser.id", principal.actor)
                    if status >= 500:
                        span.set_error(f"HTTP {status}")
        finally:
            REQUEST_ID.reset(token)
            labels: Attributes = {"route": route, "method": method, "status_code": status}
            http.duration.record(time.perf_counter() - started, labels)
            if status >= 400:
                http.errors.add(1, labels)


def observing(container: Container) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """The app lifespan step of observability: the component gauges are registered once
    the resources are open (the venues' clients need the HTTP session); the config's alert
    rules are synced and, with [alerts] enabled, evaluated every evaluate_s until shutdown
    (stopped before the stores close)."""
    from arbx.entrypoints.container import resolve

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        settings = container.settings()
        await resolve(container.component_gauges)
        rules = await resolve(container.manage_alert_rules)
        await rules.sync_config(settings.alerts.rules)
        loop = await resolve(container.alert_loop)
        if settings.alerts.enabled:
            loop.start()
        try:
            yield
        finally:
            await loop.close()
            container.alert_loop.reset()

    return lifespan
