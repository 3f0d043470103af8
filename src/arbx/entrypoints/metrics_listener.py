"""GET /metrics on a port of its own (``[telemetry] metrics_port``), for a Prometheus that
scrapes a private interface: no credentials there, and nothing else is served on it.

``arbx serve`` binds the socket before anything starts (a port in use is one clear error,
as for the API's port) and runs this listener, aiohttp's small server, in the same event
loop as the API for as long as the API serves.
"""

from __future__ import annotations

import socket

from aiohttp import web

from arbx.ports.telemetry import Telemetry

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsListener:
    def __init__(self, telemetry: Telemetry, sock: socket.socket) -> None:
        self._telemetry = telemetry
        self._sock = sock
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, self._sock).start()
        self._runner = runner

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, _: web.Request) -> web.Response:
        if not self._telemetry.enabled:
            return web.Response(
                status=404, text="telemetry is off: set [telemetry] enabled = true\n"
            )
        return web.Response(
            body=self._telemetry.metrics_text().encode(), headers={"Content-Type": PROMETHEUS_TYPE}
        )
