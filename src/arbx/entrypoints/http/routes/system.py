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
    tags=["system"],
    guards=[public()],
    security=[],
)
async def health() -> Health:
    return Health(status="ok")


@get(
    "/ready",
    summary="Readiness: the stores answer (503 with the failing checks when one does not)",
    tags=["system"],
    guards=[public()],
    security=[],
)
async def ready(
    check_readiness: NamedDependency[CheckReadiness], profile: NamedDependency[str]
) -> Response[ReadinessOut]:
    result = await check_readiness.execute()
    body = ReadinessOut("ready" if result.ready else "not ready", profile, result.checks)
    return Response(body, status_code=200 if result.ready else 503)


ROUTES = [health, ready]
