"""The Litestar application factory. Handlers see named dependencies, never the container."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

import arbx
from arbx.entrypoints import runtime
from arbx.entrypoints.container import Container, resolve
from arbx.entrypoints.http.client_address import parse_networks
from arbx.entrypoints.http.errors import EXCEPTION_HANDLERS
from arbx.entrypoints.http.input_checks import check_parameters
from arbx.entrypoints.http.openapi import allow_header, document_problems
from arbx.entrypoints.http.routes import (
    admin,
    alerts,
    audit,
    auth,
    backtests,
    compare,
    exchanges,
    jobs,
    market,
    optimizations,
    quality,
    reports,
    series_stats,
    spreads,
    strategies,
    streams,
    study_reports,
    system,
    ui,
    walk_forwards,
)
from arbx.entrypoints.http.routes.observability import ADMIN_ROUTES, metrics_routes
from arbx.entrypoints.http.security import (
    STATE_KEY,
    AuditMiddleware,
    Gatekeeper,
    provide_client_address,
    provide_principal,
    security_headers,
)
from arbx.entrypoints.http.telemetry import HttpTelemetry, observing, request_id_header

log = logging.getLogger("arbx.http")


def _provide(container: Container, name: str) -> Provide:
    provider = getattr(container, name)

    async def dependency() -> Any:
        return await resolve(provider)

    dependency.__name__ = f"provide_{name}"
    return Provide(dependency)


def _provide_value(value: Any) -> Provide:
    def dependency() -> Any:
        return value

    return Provide(dependency, sync_to_thread=False)


# Named dependencies handlers may ask for (each is a provider of the container).
DEPENDENCIES = (
    "check_readiness",
    "import_bars",
    "query_bars",
    "list_series",
    "summarize_quality",
    "list_issues",
    "list_gaps",
    "validate_series",
    "detect_gaps",
    "repair_series",
    "run_backtest",
    "backtest_runs",
    "cancel_backtest",
    "check_health",
    "optimize_studies",
    "walk_forward",
    "strategy_catalog",
    "evaluate_strategy",
    "report_backtests",
    "report_studies",
    "compare_runs",
    "manage_alert_rules",
    "notifications",
    "evaluate_alerts",
    "describe_series",
    "stream_supervisor",
)
AUTH_DEPENDENCIES = (
    "authenticate",
    "refresh_session",
    "logout",
    "change_own_password",
    "create_user",
    "list_users",
    "set_user_state",
    "assign_roles",
    "reset_password",
    "create_api_key",
    "list_api_keys",
    "revoke_api_key",
    "query_audit_log",
)
JOB_DEPENDENCIES = (
    "list_jobs",
    "get_job",
    "create_job",
    "update_job",
    "delete_job",
    "pause_job",
    "resume_job",
    "run_job_now",
    "list_job_runs",
)
SECURITY_SCHEMES = {
    "bearer": SecurityScheme(
        type="http", scheme="bearer", description="an access JWT or an API key"
    ),
    "apiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
}


def create_app(
    container: Container, *, manage_resources: bool = True, run_scheduler: bool | None = None
) -> Litestar:
    """Build the HTTP app. With ``manage_resources`` the app opens and closes the container's
    resources (stores, pools) in its lifespan; ``arbx serve`` opens them itself first (so a
    failure is one clear message, not a server traceback) and asks only for the scheduler.
    ``run_scheduler`` defaults to ``manage_resources``."""
    settings = container.settings()
    scheduler = manage_resources if run_scheduler is None else run_scheduler

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if manage_resources:
            await runtime.start(container)
        try:
            if scheduler:  # config jobs synced, the scheduler started when enabled
                await runtime.start_scheduler(container)
            yield
        finally:
            try:
                if scheduler:
                    await runtime.stop_scheduler(container)  # before the stores close
            finally:
                if manage_resources:
                    await runtime.stop(container)

    dependencies: dict[str, Provide] = {name: _provide(container, name) for name in DEPENDENCIES}
    dependencies["profile"] = _provide_value(settings.profile)
    dependencies.update({name: _provide(container, name) for name in AUTH_DEPENDENCIES})
    dependencies.update({name: _provide(container, name) for name in JOB_DEPENDENCIES})
    dependencies["principal"] = Provide(provide_principal, sync_to_thread=False)
    dependencies["client_address"] = Provide(provide_client_address, sync_to_thread=False)
    dependencies["exchange_clients"] = _provide(container, "exchange_clients")
    dependencies["ingest_runs"] = _provide(container, "ingest_runs")
    dependencies["spread_monitor"] = _provide(container, "spread_monitor")

    @asynccontextmanager
    async def background_work(_: Litestar) -> AsyncIterator[None]:
        """Ingest runs and background backtests of this app: closed (runs in flight recorded
        as cancelled / interrupted) before the resources close, then forgotten."""
        ingest_runs = await resolve(container.ingest_runs)
        background = await resolve(container.background_backtests)
        studies = await resolve(container.optimize_studies)
        walk_forwards = await resolve(container.walk_forward)
        # studies and walk-forwards left running by a process that is gone: interrupted
        await studies.recover()
        await walk_forwards.recover()
        try:
            yield
        finally:
            try:
                await ingest_runs.close()
                await walk_forwards.close()  # running ones: interrupted, resumable
                await studies.close()
                await background.close()
            finally:
                container.ingest_runs.reset()
                container.background_backtests.reset()
                container.walk_forward.reset()
                container.optimize_studies.reset()
                container.compute_executor.reset()

    container.auth_secrets()  # missing secrets fail at start-up, not at the first request
    gate = Gatekeeper(
        authorize=lambda: resolve(container.authorize),
        audit=lambda: resolve(container.audit_trail),
        limiter=container.rate_limiter(),
        trusted_proxies=parse_networks(settings.http.trusted_proxies),
    )
    telemetry = container.telemetry()
    http_telemetry = HttpTelemetry(telemetry, header=settings.telemetry.request_id_header)
    observability = metrics_routes(telemetry, settings.telemetry.metrics_access)
    app = Litestar(
        route_handlers=[
            *_routers(),
            *exchanges.ROUTES,
            *spreads.ROUTES,
            *compare.ROUTES,  # before backtests: /backtests/compare is not a run id
            *backtests.ROUTES,
            *observability,
            Router("/api/v1/admin", route_handlers=ADMIN_ROUTES, tags=["observability"]),
            *optimizations.ROUTES,
            *walk_forwards.ROUTES,
            *reports.ROUTES,
            *study_reports.ROUTES,
            *ui.ROUTES,
            Router("/api/v1/alerts", route_handlers=alerts.ROUTES, tags=["alerts"]),
        ],
        dependencies=dependencies,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        # ingest runs and background backtests stop before resources close
        lifespan=[
            lifespan,
            background_work,
            observing(container),
            _streams(container, scheduler),
            _spreads(container, scheduler),
        ],
        request_max_body_size=settings.http.max_body_bytes,
        cors_config=_cors(settings.http.cors_origins),
        state=State({STATE_KEY: gate}),
        middleware=[http_telemetry.middleware, AuditMiddleware],
        before_send=[
            security_headers(),
            allow_header(),
            request_id_header(settings.telemetry.request_id_header),
        ],
        before_request=check_parameters,
        security=[{"bearer": []}, {"apiKey": []}],
        openapi_config=OpenAPIConfig(
            title="arbx",
            version=arbx.__version__,
            description="Market data and backtesting for crypto strategies.",
            path="/schema",
            render_plugins=[_offline_docs()],
            components=Components(security_schemes=SECURITY_SCHEMES),  # type: ignore[arg-type]
        ),
        debug=False,
    )
    document_problems(app)
    return app


def _streams(container: Container, start: bool) -> Any:
    """The live streams of this app: the config's ``[[streams]]`` started (with the
    scheduler: by ``arbx serve``), and every stream stopped, its data stored, before the
    resources close."""

    @asynccontextmanager
    async def streams(_: Litestar) -> AsyncIterator[None]:
        supervisor = await resolve(container.stream_supervisor)
        if start:
            await supervisor.start_all(container.settings().streams)
        try:
            yield
        finally:
            await supervisor.close()

    return streams


def _spreads(container: Container, start: bool) -> Any:
    """The live spread monitor of the config's ``[[spreads]]`` (with the scheduler: by
    ``arbx serve``), fed by quote streams of every market its legs name; stopped (its open
    opportunities closed and stored) before the resources close."""

    @asynccontextmanager
    async def spreads(_: Litestar) -> AsyncIterator[None]:
        settings = container.settings()
        if not (start and settings.spreads):
            yield
            return
        from arbx.entrypoints.streams import spread_sources, stream_urls

        monitor = await resolve(container.spread_monitor)
        session = await resolve(container.http_session)
        pairs = [p.pair() for p in settings.spreads]
        sources = spread_sources(session, pairs, stream_urls(settings.exchanges))
        stop = asyncio.Event()
        task = asyncio.create_task(monitor.run(sources, stop), name="arbx-spread-monitor")
        try:
            yield
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, timeout=10)
            except Exception:
                log.exception("the spread monitor did not stop cleanly")

    return spreads


def _offline_docs() -> SwaggerRenderPlugin:
    """Swagger UI at /schema (and /schema/swagger) from the copies shipped in the package:
    the API docs work without internet."""
    return SwaggerRenderPlugin(
        js_url=ui.asset_url("swagger-ui-bundle.js"),
        css_url=ui.asset_url("swagger-ui.css"),
        standalone_preset_js_url=ui.asset_url("swagger-ui-standalone-preset.js"),
        favicon=f"<link rel='icon' type='image/png' href='{ui.asset_url('swagger-favicon.png')}'>",
        path="/swagger",
    )


def _routers() -> list[Router]:
    """The route groups: each module's handlers under one path prefix, with one OpenAPI tag.

    Guards stay on each handler: within a group they differ (reading and changing need other
    permissions), and the access matrix reads every route's own declared ``Access``."""
    groups: list[tuple[str, str, ModuleType]] = [
        ("/", "system", system),
        ("/api/v1", "market", market),
        ("/api/v1", "quality", quality),
        ("/api/v1", "market", series_stats),
        ("/api/v1", "auth", auth),
        ("/api/v1/admin", "admin", admin),
        ("/api/v1/audit", "admin", audit),
        ("/api/v1/jobs", "jobs", jobs),
        ("/api/v1/strategies/catalog", "strategies", strategies),
        ("/api/v1/streams", "streams", streams),
    ]
    return [Router(path, route_handlers=module.ROUTES, tags=[tag]) for path, tag, module in groups]


def _cors(origins: list[str]) -> CORSConfig | None:
    """Closed unless ``http.cors_origins`` lists browser origins; never with credentials."""
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "X-API-Key", "Content-Type", "Accept"],
        expose_headers=[
            "X-Next-Cursor",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            "Retry-After",
        ],
        allow_credentials=False,
        max_age=600,
    )


__all__ = ["CORSConfig", "create_app"]
