"""Liveness and readiness."""

from __future__ import annotations

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency

from arbx.app.readiness import Check, CheckReadiness
from arbx.entrypoints.http.security import public


class Health(msgspec.Struct):
    status: str


class ReadinessOut(msgspec.Struct):
    status: str
    profile: str
    checks: list[Check]


@get(
    "/health",
    summary="Liveness: the process answers",
    guards=[public()],
    security=[],
)
async def health() -> Health:
    return Health(status="ok")


@get(
    "/ready",
    summary="Readiness: 200 ready or degraded (an exchange unreachable), 503 when a store fails",
    guards=[public()],
    security=[],
)
async def ready(
    check_readiness: NamedDependency[CheckReadiness], profile: NamedDependency[str]
) -> Response[ReadinessOut]:
    result = await check_readiness.execute()
    status = "degraded" if result.degraded else "ready" if result.ready else "not ready"
    body = ReadinessOut(status, profile, result.checks)
    return Response(body, status_code=200 if result.ready else 503)


ROUTES = [health, ready]
