"""GET /metrics (Prometheus text) and the component health of the admin API."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler

from arbx.app.health import CheckHealth, HealthReport
from arbx.domain.auth import Permission
from arbx.domain.errors import NotFound
from arbx.entrypoints.http.security import Access, public, requires
from arbx.ports.telemetry import Telemetry

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_routes(telemetry: Telemetry, access: str) -> list[HTTPRouteHandler]:
    """GET /metrics guarded as ``[telemetry] metrics_access`` says (none when ``off``)."""
    if access == "off":
        return []
    guard: Access = (
        public("read") if access == "public" else requires(Permission.OBSERVABILITY_READ)
    )

    @get(
        "/metrics",
        summary="Every metric in the Prometheus text format",
        guards=[guard],
        media_type=PROMETHEUS_TYPE,
        include_in_schema=True,
        security=[] if access == "public" else None,
        sync_to_thread=False,
    )
    def metrics() -> Response[str]:
        if not telemetry.enabled:
            raise NotFound("telemetry is off: set [telemetry] enabled = true to collect metrics")
        return Response(telemetry.metrics_text(), media_type=PROMETHEUS_TYPE)

    return [metrics]


@get(
    "/health",
    summary="Every component's state (stores, pool, scheduler, jobs, exchanges, worker pool)"
    " with the latency of its check and its last error",
    guards=[requires(Permission.OBSERVABILITY_READ, group="admin")],
)
async def component_health(check_health: NamedDependency[CheckHealth]) -> HealthReport:
    return await check_health.execute()


ADMIN_ROUTES = [component_health]
