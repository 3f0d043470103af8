"""``arbx serve``: the HTTP API (and, as they land, the scheduler) in one process."""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import socket
from typing import Any

import uvicorn

from arbx.domain.errors import ExternalError
from arbx.entrypoints import runtime
from arbx.entrypoints.container import Container
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.metrics_listener import MetricsListener
from arbx.entrypoints.process_lock import DataDirLock
from arbx.entrypoints.settings import Settings


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "serve",
        help="serve the HTTP API (OpenAPI at /schema)",
        description="Serve the HTTP API. Host and port default to the settings ([http] host, port).",
    )
    parser.add_argument("--host", help="address to bind (default from settings: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default from settings: 8000)")
    parser.set_defaults(run=run, manages_runtime=True)


async def run(args: argparse.Namespace, container: Container) -> int:
    settings = container.settings()
    host, port = args.host or settings.http.host, args.port or settings.http.port
    with contextlib.ExitStack() as held:
        if settings.profile == "local":  # one server per data dir: one scheduler fires jobs
            held.enter_context(DataDirLock(settings.data_dir))
        # bind before anything starts: a port in use is one line (exit 1), not a traceback
        listener = held.enter_context(bind(host, port))
        telemetry_settings = settings.telemetry
        metrics_sock = None
        if telemetry_settings.metrics_port:  # GET /metrics alone, on a port of its own
            metrics_sock = held.enter_context(
                bind(telemetry_settings.metrics_host, telemetry_settings.metrics_port)
            )
        # Open the stores first: an unreachable database or a schema newer than the code is
        # one clear error (exit 1), never a server traceback or a crash loop.
        await runtime.start(container)
        try:
            app = create_app(container, manage_resources=False, run_scheduler=True)
            container.compute_executor().warm()  # worker processes start now, not at a first study
            server = uvicorn.Server(server_config(app, settings, host=host, port=port))
            # everything allocated at start-up lives for the whole process: keep it out of
            # the garbage collector's full passes (they cost 60-85 ms each under load)
            gc.collect()
            gc.freeze()
            metrics = None
            if metrics_sock is not None:
                metrics = MetricsListener(container.telemetry(), metrics_sock)
                await metrics.start()
            try:
                await server.serve(sockets=[listener])
            finally:
                if metrics is not None:
                    await metrics.close()
        finally:
            await runtime.stop(container)
    return 0


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``ExternalError`` naming the port when it is
    taken or cannot be bound), handed to uvicorn so nothing can take the port in between."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ExternalError(
                f"port {port} on {host} is in use (another server?); pick another with"
                f" --port or ARBX_HTTP__PORT, e.g. --port {port + 1}"
            ) from None
        raise ExternalError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def server_config(app: Any, settings: Settings, *, host: str, port: int) -> uvicorn.Config:
    """How ``arbx serve`` runs uvicorn."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.logging.level.lower(),
        # JSON logs: uvicorn's loggers go through the root handler (trace and request ids)
        log_config=None if settings.logging.format == "json" else uvicorn.config.LOGGING_CONFIG,
        lifespan="on",
        # uvicorn would rewrite the client address from X-Forwarded-For sent by any loopback
        # peer; arbx trusts only [http] trusted_proxies (entrypoints/http/client_address.py)
        proxy_headers=False,
    )
