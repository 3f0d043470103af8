"""GET /metrics (Prometheus text) and the component health of the admin API."""

from __future__ import annotations

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler

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
