"""Wiring of telemetry and observations into the stores and use cases (for container.py).

Every store of the profile is traced (one span and one duration sample per call, with the
database system); the hooks of ``Observations`` see their results. Gauges read the venues'
circuit breakers and the PostgreSQL pool when metrics are collected.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from arbx.app.alerts import Notifications, stored_streak
from arbx.app.health import ComponentProbe
from arbx.app.instrumented import traced
from arbx.app.observations import Observations
from arbx.app.readiness import Check
from arbx.app.stream_supervisor import StreamSupervisor
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Exchange
from arbx.ports.alert_channel import AlertChannel
from arbx.ports.exchange import BreakerState, ExchangeClient
from arbx.ports.job_store import JobScheduler
from arbx.ports.telemetry import Observation, Telemetry

if TYPE_CHECKING:
    import aiohttp

    from arbx.entrypoints.profiles import Stores
    from arbx.entrypoints.settings import AlertsSettings

T = TypeVar("T")
BREAKER_VALUES = {BreakerState.CLOSED: 0.0, BreakerState.HALF_OPEN: 0.5, BreakerState.OPEN: 1.0}
_STORE_FIELDS = (
    "bars", "quality", "runs", "jobs", "users", "api_keys", "refresh_tokens", "audit", "alerts",
    "studies", "books",
)  # fmt: skip
_FILE_STORES = frozenset({"bars", "trades", "books"})  # Parquet files on the local profile


def observed(component: str, target: T, telemetry: Telemetry, observations: Observations) -> T:
    """``target`` traced as ``component`` with the observation hooks of that component."""
    return traced(
        target,
        telemetry,
        component,
        on_result=observations.hooks().get(component),
        annotate=observations.annotations().get(component),
    )


def observed_stores(
    stores: Stores, telemetry: Telemetry, observations: Observations, profile: str
) -> Stores:
    hooks = observations.hooks()
    changed: dict[str, Any] = {}
    for name in _STORE_FIELDS:
        system = (
            "postgresql" if profile == "server" else "parquet" if name in _FILE_STORES else "sqlite"
        )
        component = f"store.{name}"
        changed[name] = traced(
            getattr(stores, name),
            telemetry,
            component,
            system=system,
            on_result=hooks.get(component),
            measure=False,  # a span per call; the latency is in the request's own metrics
        )
    return dataclasses.replace(stores, **changed)


def watch_components(
    telemetry: Telemetry, clients: Mapping[Exchange, ExchangeClient], pool: Any | None
) -> bool:
    """Register the gauges of the venues' breakers and of the pool (once per telemetry)."""

    def breakers() -> Iterable[Observation]:
        return [
            (BREAKER_VALUES[client.status().breaker], {"venue": str(venue)})
            for venue, client in clients.items()
        ]

    telemetry.gauge(
        "arbx.exchange.breaker",
        breakers,
        description="circuit breaker of each venue: 0 closed, 0.5 half open, 1 open",
    )
    if pool is not None:

        def usage() -> Iterable[Observation]:
            stats = pool.get_stats()
            size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
            return [
                (float(size - available), {"state": "in_use"}),
                (float(available), {"state": "idle"}),
                (float(stats.get("requests_waiting", 0)), {"state": "waiting"}),
                (float(pool.max_size), {"state": "max"}),
            ]

        telemetry.gauge(
            "arbx.db.pool.connections", usage, description="PostgreSQL pool connections"
        )
    return True


def health_probes(
    *,
    stores: Stores,
    clients: Mapping[Exchange, ExchangeClient],
    scheduler: JobScheduler | None,
    pool: Any | None,
    observations: Observations,
    workers: int,
    notifications: Notifications,
    streams: StreamSupervisor | None = None,
) -> list[tuple[str, ComponentProbe]]:
    """The components of GET /api/v1/admin/health, each a probe returning its checks."""

    async def store_checks() -> list[Check]:
        await stores.bars.ping()
        return [Check("store.bars", True, "answers"), await stores.database_probe()]

    async def pool_checks() -> list[Check]:
        if pool is None:
            return [Check("pool", True, "none: the local profile uses one SQLite file", False)]
        stats = pool.get_stats()
        size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
        waiting = stats.get("requests_waiting", 0)
        detail = f"{size - idle} in use, {idle} idle, {waiting} waiting, max {pool.max_size}"
        return [Check("pool", waiting == 0 or idle > 0, detail)]

    async def scheduler_checks() -> list[Check]:
        streaks = [(j.id, await stored_streak(stores.jobs, j.id)) for j in await stores.jobs.list()]
        failing = sorted((j, s) for j, s in streaks if s.failures)
        jobs = "; ".join(
            f"{job} failed {s.failures} time(s) in a row: {s.last_error or '?'}"[:300]
            for job, s in failing
        )
        running = getattr(scheduler, "running", None)
        if scheduler is None:
            state = Check("scheduler", True, "off ([scheduler] enabled = false)", False)
        else:
            state = Check("scheduler", bool(running), "running" if running else "stopped", False)
        return [state, Check("jobs", not failing, jobs or "no job failing", False)]

    async def exchange_checks() -> list[Check]:
        checks = []
        for venue, client in clients.items():
            status = client.status()
            detail = status.breaker.value
            if status.retry_at is not None and status.breaker is BreakerState.OPEN:
                detail += f" until {status.retry_at:%H:%M:%S}Z"
            if status.last_error:
                detail += f" (last error: {status.last_error})"
            ok = status.breaker is not BreakerState.OPEN
            checks.append(Check(f"exchange.{venue}", ok, detail, critical=False))
        return checks or [Check("exchanges", True, "no exchange enabled", False)]

    async def worker_checks() -> list[Check]:
        flying = observations.backtests_in_flight
        detail = f"{workers} worker process(es); {flying} background backtest(s) in flight"
        return [Check("worker_pool", True, detail, critical=False)]

    async def channel_checks() -> list[Check]:
        return [
            Check(
                f"alerts.{s.name}",
                s.ok,
                f"{s.kind}: {s.delivered} delivered, {s.failed} failed, {s.pending} pending",
                critical=False,
            )
            for s in notifications.statuses()
        ] or [Check("alerts", True, "no channel configured ([alerts.channels.NAME])", False)]

    async def stream_checks() -> list[Check]:
        views = [] if streams is None else streams.status()
        checks = []
        for view in views:
            parts = []
            for channel in view.channels:
                link = "connected" if channel.stats and channel.stats.connected else "not connected"
                part = f"{channel.channel} {channel.state}, {link}"
                if channel.error:
                    part += f" (last error: {channel.error})"
                parts.append(part)
            ok = view.state in ("running", "stopped") and all(
                c.state != "running" or (c.stats is not None and c.stats.connected)
                for c in view.channels
            )
            checks.append(Check(f"stream.{view.id}", ok, "; ".join(parts)[:500], critical=False))
        return checks or [Check("streams", True, "no live stream ([[streams]])", False)]

    return [
        ("stores", store_checks),
        ("pool", pool_checks),
        ("scheduler", scheduler_checks),
        ("exchanges", exchange_checks),
        ("worker_pool", worker_checks),
        ("streams", stream_checks),
        ("alerts", channel_checks),
    ]


def alert_channels(settings: AlertsSettings, session: aiohttp.ClientSession) -> list[AlertChannel]:
    """The ``[alerts.channels.<name>]`` of the config (webhooks share the process's session)."""
    from arbx.adapters.notifications.smtp import SmtpChannel
    from arbx.adapters.notifications.webhook import WebhookChannel

    channels: list[AlertChannel] = []
    for name, channel in sorted(settings.channels.items()):
        if channel.kind == "webhook":
            channels.append(
                WebhookChannel(
                    name,
                    session,
                    url=channel.url,
                    secret=channel.secret,
                    slack=channel.format == "slack",
                    timeout_s=channel.timeout_s,
                )
            )
        else:
            channels.append(
                SmtpChannel(
                    name,
                    host=channel.host,
                    port=channel.port,
                    starttls=channel.starttls,
                    username=channel.username,
                    password=channel.password,
                    sender=channel.sender,
                    to=channel.to,
                    timeout_s=channel.timeout_s,
                    tls_context=_trusting(channel.ca_file),
                )
            )
    return channels


def _trusting(ca_file: str) -> ssl.SSLContext | None:
    """A TLS context trusting ``ca_file`` (PEM); None: the system store."""
    if not ca_file:
        return None
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidInput(
            f"alert channel ca_file {ca_file} cannot be read as PEM certificates: {exc}"
        ) from exc


def channel_names(settings: AlertsSettings) -> frozenset[str]:
    return frozenset(settings.channels)
