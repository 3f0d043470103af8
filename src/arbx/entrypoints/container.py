"""The composition root: with ``profiles.py``, the only place that names concrete adapters.

Settings come in as a plain object; the storage profile is chosen once (``profiles.py``
builds each profile's bundle of stores); resources (pools, sessions, databases) open in
``runtime.start`` and close in ``runtime.stop``. Nothing here opens a connection at import
time, and adapters are imported by the factory that builds them, so a command imports only
the drivers it uses (no aiohttp, psycopg, APScheduler, argon2 or JWT for ``arbx data list``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from dependency_injector import containers, providers

import arbx
from arbx.app.alerts import AlertLoop, EvaluateAlerts, ManageAlertRules, Notifications
from arbx.app.apply_retention import ApplyRetention, RetainWork
from arbx.app.authenticate import Authenticate, SessionTokens
from arbx.app.authorize import (
    AuditTrail,
    Authorize,
    CacheForgettingSessions,
    PrincipalCache,
    QueryAuditLog,
)
from arbx.app.backfill_trades import BackfillTrades
from arbx.app.background_backtests import BackgroundBacktests, CancelBacktest
from arbx.app.backup import CreateBackup, RestoreBackup, VerifyBackup
from arbx.app.compare_runs import CompareRuns
from arbx.app.detect_gaps import DetectGaps, ListGaps
from arbx.app.ensure_history import EnsureHistory
from arbx.app.evaluate_strategy import EvaluateStrategy, EvaluateWork
from arbx.app.health import CheckHealth
from arbx.app.import_bars import ImportBars, LoadSamples
from arbx.app.import_trades import ImportTrades
from arbx.app.ingest_runs import IngestRuns
from arbx.app.logout import Logout
from arbx.app.manage_api_keys import CreateApiKey, ListApiKeys, RevokeApiKey
from arbx.app.manage_catalog import StrategyCatalog
from arbx.app.manage_jobs import (
    CreateJob,
    DeleteJob,
    GetJob,
    ListJobRuns,
    ListJobs,
    PauseJob,
    ResumeJob,
    RunJobNow,
    SyncConfigJobs,
    UpdateJob,
)
from arbx.app.manage_users import (
    AssignRoles,
    ChangeOwnPassword,
    CreateFirstAdmin,
    CreateUser,
    ListUsers,
    ResetPassword,
    SetUserState,
)
from arbx.app.observations import Observations
from arbx.app.optimize import OptimizeStudies
from arbx.app.query_bars import ExportBars, ListSeries, QueryBars
from arbx.app.readiness import CheckReadiness, exchanges_probe
from arbx.app.refresh_session import RefreshSession
from arbx.app.repair_series import RepairSeries
from arbx.app.report_backtests import ReportBacktests
from arbx.app.report_studies import ReportStudies
from arbx.app.resample_series import ResampleSeries
from arbx.app.run_backtest import BacktestRuns, RunBacktest
from arbx.app.run_job import CollectWork, RepairWork, RunJob, ValidateWork
from arbx.app.series_statistics import DescribeSeries
from arbx.app.spread_monitor import MonitorSpreads
from arbx.app.stream_supervisor import StreamSupervisor
from arbx.app.validate_series import ListIssues, SummarizeQuality, ValidateSeries
from arbx.app.walk_forward import WalkForward
from arbx.domain.auth import SessionPolicy
from arbx.domain.auth.limits import BucketPolicy, FailurePolicy
from arbx.domain.jobs import JobKind
from arbx.domain.market import Exchange
from arbx.entrypoints import profiles
from arbx.entrypoints.backup_sections import backup_sections as _backup_sections
from arbx.entrypoints.observability import (
    alert_channels,
    channel_names,
    health_probes,
    observed,
    observed_stores,
    watch_components,
)
from arbx.entrypoints.runtime import resolve as resolve  # re-exported; the one copy is there
from arbx.entrypoints.settings import (
    AuthSecrets,
    AuthSettings,
    S3Settings,
    SchedulerSettings,
    Settings,
    TelemetrySettings,
    VenueSettings,
)
from arbx.entrypoints.settings import auth_secrets as read_auth_secrets
from arbx.entrypoints.streams import stream_channels as _stream_channels
from arbx.entrypoints.streams import stream_urls as _stream_urls
from arbx.ports.backup_archive import BackupArchives
from arbx.ports.clock import Clock
from arbx.ports.exchange import ExchangeClient
from arbx.ports.executor import Executor
from arbx.ports.job_store import JobStore
from arbx.ports.password_hasher import PasswordHasher
from arbx.ports.process_probe import ProcessProbe
from arbx.ports.rate_limiter import LoginThrottle, RateLimiter
from arbx.ports.report_renderer import ReportRenderer
from arbx.ports.table_files import TableFiles
from arbx.ports.telemetry import Telemetry
from arbx.ports.token_service import SecretService, TokenService

if TYPE_CHECKING:
    import aiohttp

    from arbx.adapters.scheduling.runner import ApschedulerJobRunner
    from arbx.ports.spread_store import SpreadStore
    from arbx.ports.trade_files import TradeFileReader
    from arbx.ports.trade_history import TradeHistory

T = TypeVar("T")


def _system_clock() -> Clock:
    from arbx.adapters.system_clock import SystemClock

    return SystemClock()


def _process_probe() -> ProcessProbe:
    from arbx.adapters.system_process import OsProcessProbe

    return OsProcessProbe()


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _table_files(s3: S3Settings) -> TableFiles:
    """Files on disk, or objects at s3:// URLs (issue 20)."""
    from arbx.adapters.files.polars_table_files import PolarsTableFiles
    from arbx.adapters.objectstore.connect import s3_store
    from arbx.adapters.objectstore.table_files import LocationTableFiles

    options = profiles.s3_options(s3)
    return LocationTableFiles(PolarsTableFiles(), lambda bucket: s3_store(bucket, options))


def _trade_files() -> TradeFileReader:
    from arbx.adapters.files.trade_files import LocalTradeFiles

    return LocalTradeFiles()


def _trade_histories(clients: Mapping[Exchange, ExchangeClient]) -> dict[Exchange, TradeHistory]:
    """The venue clients that serve trade history (every built-in one does)."""
    from arbx.ports.trade_history import TradeHistory

    return {
        venue: cast("TradeHistory", client)
        for venue, client in clients.items()
        if TradeHistory in type(client).__mro__
    }


def _spread_monitor(
    settings: Settings, store: SpreadStore, clock: Clock, observations: Observations
) -> MonitorSpreads:
    """The live spread monitor of the ``[[spreads]]`` pairs (fees: ``[backtest] fees`` over
    the built-in schedules). It computes spreads once quote sources feed its ``run``."""
    pairs = [p.pair() for p in settings.spreads]
    return MonitorSpreads(
        pairs, store, clock, fees=settings.backtest.fees, signal=observations.signal
    )


def _report_renderer() -> ReportRenderer:
    from arbx.adapters.reports.html import HtmlReportRenderer

    return HtmlReportRenderer()


def _backup_archives(s3: S3Settings) -> BackupArchives:
    from arbx.adapters.objectstore.backup_archive import LocationBackupArchives

    # a directory, or s3://BUCKET/PREFIX
    return LocationBackupArchives(options=profiles.s3_options(s3))


def _session_policy(settings: Settings) -> SessionPolicy:
    auth = settings.auth
    return SessionPolicy(
        access_ttl=timedelta(seconds=auth.access_ttl_s),
        refresh_ttl=timedelta(seconds=auth.refresh_ttl_s),
        max_session_age=timedelta(seconds=auth.max_session_s),
    )


def _rate_limiter(settings: Settings, clock: Clock) -> RateLimiter:
    from arbx.adapters.security.rate_limit import TokenBucketRateLimiter

    policies = {
        group: BucketPolicy.per_minute(limit.per_minute, burst=limit.burst)
        for group, limit in settings.auth.rate_limits.items()
    }
    return TokenBucketRateLimiter(policies, clock=clock)


def _login_throttle(settings: Settings, clock: Clock) -> LoginThrottle:
    from arbx.adapters.security.rate_limit import InMemoryLoginThrottle

    auth = settings.auth
    per_username = FailurePolicy(
        free=auth.login_free_failures,
        base_delay=timedelta(seconds=auth.login_base_delay_s),
        max_delay=timedelta(seconds=auth.login_max_delay_s),
        forget_after=timedelta(seconds=max(3600.0, auth.login_max_delay_s)),
    )
    return InMemoryLoginThrottle(clock=clock, per_username=per_username)


def _password_hasher(auth: AuthSettings) -> PasswordHasher:
    from arbx.adapters.security.passwords import Argon2PasswordHasher

    return Argon2PasswordHasher(
        time_cost=auth.argon2_time_cost,
        memory_cost_kib=auth.argon2_memory_kib,
        parallelism=auth.argon2_parallelism,
    )


def _token_service(auth: AuthSettings, secrets: AuthSecrets, clock: Clock) -> TokenService:
    from arbx.adapters.security.tokens import JwtTokenService, SigningKey

    return JwtTokenService(
        issuer=auth.issuer,
        audience=auth.audience,
        keys=[SigningKey(kid=key.kid, secret=key.secret) for key in secrets.signing_keys],
        clock=clock,
    )


def _secret_service(secrets: AuthSecrets) -> SecretService:
    from arbx.adapters.security.secrets import HmacSecretService

    return HmacSecretService(hash_key=secrets.secret_hash_key)


def _open_telemetry(settings: TelemetrySettings) -> Iterator[Telemetry]:
    """OpenTelemetry (spans, metrics; OTLP/HTTP when an endpoint is set), or nothing when
    [telemetry] enabled is false; flushed and stopped when the process stops."""
    if not settings.enabled:
        from arbx.adapters.telemetry.noop import NoTelemetry

        yield NoTelemetry()
        return
    from arbx.adapters.telemetry.otel import otlp_telemetry

    telemetry = otlp_telemetry(
        service_name=settings.service_name,
        endpoint=settings.otlp_endpoint,
        headers=settings.otlp_headers,
        export_interval_s=settings.otlp_interval_s,
        timeout_s=settings.otlp_timeout_s,
        traces=settings.traces,
        sample_ratio=settings.sample_ratio,
    )
    try:
        yield telemetry
    finally:
        telemetry.shutdown()


def _local_process_executor(
    workers: int,
    scheduler: str | None = None,
    telemetry: Telemetry | None = None,
    tracing: TelemetrySettings | None = None,
) -> Executor:
    """The local process pool, or the Dask cluster of ``[compute] scheduler`` when set."""
    if scheduler:
        from arbx.adapters.compute.dask import DaskExecutor

        return DaskExecutor(scheduler)
    from arbx.adapters.compute.local_process import LocalProcessExecutor
    from arbx.adapters.plugins.strategy_loader import PluginsOfThisProcess

    # workers load the strategy plugins this process loaded (spawned: they start empty)
    executor = LocalProcessExecutor(workers=workers, initializer=PluginsOfThisProcess())
    if telemetry is None or tracing is None or not telemetry.tracing:
        return executor
    # the workers continue the submitting span's trace and export to the same endpoint
    from arbx.adapters.telemetry.workers import TracedExecutor, WorkerTracing

    config = WorkerTracing(
        service_name=tracing.service_name,
        endpoint=tracing.otlp_endpoint,
        headers=dict(tracing.otlp_headers),
        timeout_s=tracing.otlp_timeout_s,
    )
    return TracedExecutor(executor, telemetry, config if tracing.otlp_endpoint else None)


async def _open_http_session(telemetry: Telemetry) -> AsyncIterator[aiohttp.ClientSession]:
    """The one aiohttp session of the process (every venue client shares its pool)."""
    import aiohttp

    from arbx.adapters.telemetry.aiohttp_client import client_trace_configs

    session = aiohttp.ClientSession(
        headers={"User-Agent": f"arbx/{arbx.__version__}"},
        trace_configs=client_trace_configs(telemetry),
    )
    try:
        yield session
    finally:
        await session.close()


def venue_options(venue: VenueSettings) -> dict[str, Any]:
    """The keyword arguments every venue client takes from its ``[exchanges.<venue>]``."""
    from arbx.adapters.exchanges.common.http import RetryPolicy

    retry = RetryPolicy(
        attempts=venue.attempts,
        base_delay=venue.base_delay_s,
        max_delay=venue.max_delay_s,
        max_retry_after=venue.max_retry_after_s,
        timeout=venue.timeout_s,
    )
    return {
        "base_url": venue.base_url.rstrip("/"),
        "retry": retry,
        "breaker_threshold": venue.breaker_threshold,
        "breaker_cooldown": venue.breaker_cooldown_s,
    }


def _exchange_clients(
    settings: Settings, session: aiohttp.ClientSession
) -> Mapping[Exchange, ExchangeClient]:
    """One client per enabled venue (each holds its venue's rate limit and circuit breaker)."""
    from arbx.adapters.exchanges.binance.client import BinanceClient
    from arbx.adapters.exchanges.coinbase.client import CoinbaseClient
    from arbx.adapters.exchanges.kraken.client import KrakenClient

    venues = settings.exchanges
    clients: dict[Exchange, ExchangeClient] = {}
    if venues.binance.enabled:
        clients[Exchange("binance")] = BinanceClient(
            session,
            weight_per_minute=venues.binance.weight_per_minute,
            **venue_options(venues.binance),
        )
    if venues.binanceus.enabled:  # the Binance client at api.binance.us, as venue binanceus
        clients[Exchange("binanceus")] = BinanceClient(
            session,
            weight_per_minute=venues.binanceus.weight_per_minute,
            venue="binanceus",
            **venue_options(venues.binanceus),
        )
    for name, venue, cls in (
        ("coinbase", venues.coinbase, CoinbaseClient),
        ("kraken", venues.kraken, KrakenClient),
    ):
        if venue.enabled:
            clients[Exchange(name)] = cls(
                session,
                requests_per_second=venue.requests_per_second,
                burst=venue.burst,
                **venue_options(venue),
            )
    return clients


def _job_runner(
    *, jobs: JobStore, run_job: RunJob, clock: Clock, scheduler: SchedulerSettings
) -> ApschedulerJobRunner:
    from arbx.adapters.scheduling.runner import ApschedulerJobRunner

    return ApschedulerJobRunner(
        jobs=jobs,
        execute=run_job.execute,
        clock=clock,
        misfire_grace_s=scheduler.misfire_grace_s,
        shutdown_grace_s=scheduler.shutdown_grace_s,
        reconcile_s=scheduler.reconcile_s or None,
    )


def _scheduler_mode(settings: Settings) -> str:
    return "on" if settings.scheduler.enabled else "off"


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(_system_clock)
    # spans and metrics (opened on first use; runtime.stop flushes them), and what the
    # traced stores and use cases saw (entrypoints/observability.py)
    telemetry = providers.Resource(_open_telemetry, settings.provided.telemetry)
    observations = providers.Singleton(Observations, telemetry=telemetry, clock=clock)
    # the resources of the profiles (each opened only by the profile that uses it)
    sqlite = providers.Resource(
        profiles.open_sqlite, path=providers.Callable(profiles.sqlite_path, settings)
    )
    postgres_pool = providers.Resource(profiles.open_postgres_pool, settings)
    database_layout = providers.Callable(profiles.layout_options, settings)
    table_files = providers.Singleton(_table_files, settings.provided.storage.s3)

    # the one place the profile chooses: every store comes out of its bundle
    profile_stores = providers.Selector(
        settings.provided.profile,
        local=providers.Singleton(profiles.local_stores, sqlite, settings),
        server=providers.Singleton(profiles.server_stores, postgres_pool, settings),
    )
    stores = providers.Singleton(  # every store traced, with the observation hooks
        observed_stores, profile_stores, telemetry, observations, settings.provided.profile
    )
    bar_store = stores.provided.bars
    quality_store = stores.provided.quality  # findings and gaps
    run_store = stores.provided.runs
    job_store = stores.provided.jobs  # job definitions and runs
    user_store = stores.provided.users
    api_key_store = stores.provided.api_keys
    principal_cache = providers.Singleton(
        PrincipalCache,
        ttl=providers.Callable(timedelta, seconds=settings.provided.auth.principal_cache_s),
    )
    # every revocation goes through this wrapper, so this process's principal cache forgets
    # the ended sessions at once
    refresh_token_store = providers.Singleton(
        CacheForgettingSessions, store=stores.provided.refresh_tokens, cache=principal_cache
    )
    audit_log = stores.provided.audit

    import_bars = providers.Factory(
        ImportBars, files=table_files, store=bar_store, quality=quality_store, clock=clock
    )
    load_samples = providers.Factory(LoadSamples, importer=import_bars, store=bar_store)
    query_bars = providers.Factory(
        QueryBars, store=bar_store, max_limit=settings.provided.http.max_page_rows
    )
    list_series = providers.Factory(ListSeries, store=bar_store)
    export_bars = providers.Factory(ExportBars, store=bar_store, files=table_files)
    # the live spread monitor ([[spreads]]): one per process; closed opportunities stored
    spread_store = stores.provided.spreads
    spread_monitor = providers.Singleton(
        _spread_monitor, settings, spread_store, clock, observations
    )
    # trades: the profile's trade store (Parquet per day, a bucket with storage.trades_url, or
    # PostgreSQL on the server): streams, history files and REST backfills all store there
    trade_store = stores.provided.trades
    import_trades = providers.Factory(
        ImportTrades, files=providers.Singleton(_trade_files), trades=trade_store, bars=bar_store
    )

    # --- data quality ---
    validate_series = providers.Factory(
        ValidateSeries, bars=bar_store, quality=quality_store, clock=clock
    )
    validate_series = providers.Factory(
        observed, "quality", validate_series, telemetry, observations
    )
    summarize_quality = providers.Factory(SummarizeQuality, bars=bar_store, quality=quality_store)
    list_issues = providers.Factory(ListIssues, quality=quality_store)
    describe_series = providers.Factory(DescribeSeries, bars=bar_store, quality=quality_store)
    detect_gaps = providers.Factory(DetectGaps, bars=bar_store, quality=quality_store)
    list_gaps = providers.Factory(ListGaps, quality=quality_store)
    repair_series = providers.Factory(RepairSeries, bars=bar_store, quality=quality_store)
    resample_series = providers.Factory(ResampleSeries, bars=bar_store)

    # --- backtests ---
    # CPU-heavy work off the event loop: a spawned process pool (started on first use)
    compute_executor = providers.Singleton(
        _local_process_executor,
        workers=settings.provided.backtest.pool_workers,
        scheduler=settings.provided.compute.scheduler,
        telemetry=telemetry,
        tracing=settings.provided.telemetry,
    )
    # background runs of this process; closed (runs in flight recorded as interrupted) by the
    # HTTP app's lifespan before the stores close
    background_backtests = providers.Singleton(
        BackgroundBacktests,
        runs=run_store,
        executor=compute_executor,
        clock=clock,
        audit=audit_log,  # cancels asked from another process (`arbx backtest cancel ID`)
    )
    run_backtest = providers.Factory(
        RunBacktest,
        bars=bar_store,
        runs=run_store,
        clock=clock,
        quality=quality_store,
        default_fees=settings.provided.backtest.fees,
        background=background_backtests,
        inline_max_bars=settings.provided.backtest.inline_max_bars,
        books=stores.provided.books,  # recorded quotes and books (execution recorded_*)
    )
    run_backtest = providers.Factory(observed, "backtest", run_backtest, telemetry, observations)
    backtest_runs = providers.Factory(BacktestRuns, runs=run_store, background=background_backtests)
    # reports of runs: one self-contained HTML file each (uPlot inlined, opens offline)
    report_renderer = providers.Singleton(_report_renderer)
    report_backtests = providers.Factory(
        ReportBacktests,
        runs=backtest_runs,
        bars=bar_store,
        renderer=report_renderer,
        generated_by=f"arbx {arbx.__version__}",
    )

    compare_runs = providers.Factory(CompareRuns, runs=backtest_runs)

    # --- exchanges: one HTTP session per process, one client per enabled venue ---
    http_session = providers.Resource(_open_http_session, telemetry)
    exchange_clients = providers.Singleton(
        _exchange_clients, settings=settings, session=http_session
    )
    ensure_history = providers.Factory(
        EnsureHistory,
        store=bar_store,
        exchanges=exchange_clients,
        clock=clock,
        quality=quality_store,
        batch_rows=settings.provided.exchanges.batch_rows,
        settle_bars=settings.provided.exchanges.settle_bars,
    )
    ensure_history = providers.Factory(observed, "ingest", ensure_history, telemetry, observations)
    backfill_trades = providers.Factory(
        BackfillTrades,
        sources=providers.Singleton(_trade_histories, exchange_clients),
        trades=trade_store,
        bars=bar_store,
        clock=clock,
    )
    # backfills started over HTTP (background, recorded as job runs) or by the CLI (now)
    ingest_runs = providers.Singleton(
        IngestRuns,
        ensure_history=ensure_history,
        jobs=job_store,
        clock=clock,
        max_bars=settings.provided.exchanges.ingest_max_bars,
        concurrency=settings.provided.exchanges.ingest_concurrency,
    )
    # the audit trail (defined here: the catalog and the auth use cases below use it)
    audit_trail = providers.Singleton(AuditTrail, audit=audit_log, clock=clock)
    cancel_backtest = providers.Factory(
        CancelBacktest, runs=run_store, audit=audit_trail, background=background_backtests
    )
    # --- the strategy catalog: versioned definitions, deployment, re-evaluation ---
    strategy_catalog = providers.Factory(
        StrategyCatalog,
        store=stores.provided.catalog,
        audit=audit_trail,
        clock=clock,
        four_eyes=settings.provided.catalog.four_eyes,
        walk_forwards=stores.provided.walk_forwards,
    )
    evaluate_strategy = providers.Factory(
        EvaluateStrategy, catalog=strategy_catalog, backtests=run_backtest, bars=bar_store
    )
    # --- research: optimization studies (one per process: it tracks the studies it runs) ---
    study_store = stores.provided.studies
    process_probe = providers.Singleton(_process_probe)
    optimize_studies = providers.Singleton(
        observed,
        "optimize",
        providers.Factory(
            OptimizeStudies,
            backtests=run_backtest,
            studies=study_store,
            executor=compute_executor,
            clock=clock,
            max_trials=settings.provided.optimize.max_trials,
            jobs=settings.provided.optimize.jobs,
            probe=process_probe,
            lease=providers.Factory(_seconds, settings.provided.optimize.lease_seconds),
            catalog=strategy_catalog,
        ),
        telemetry,
        observations,
    )
    # one per process: it tracks the walk-forwards it runs
    walk_forward = providers.Singleton(
        WalkForward,
        studies=optimize_studies,
        executor=compute_executor,
        store=stores.provided.walk_forwards,
        clock=clock,
    )
    report_studies = providers.Factory(
        ReportStudies,
        studies=optimize_studies,
        walk_forward=walk_forward,
        renderer=report_renderer,
        generated_by=f"arbx {arbx.__version__}",
    )
    # --- retention (issue 20): [[retention]] rules; `arbx data retain` and retain jobs ---
    apply_retention = providers.Factory(
        ApplyRetention,
        bars=bar_store,
        runs=run_store,
        clock=clock,
        rules=settings.provided.retention,
    )

    # --- scheduled jobs: the work of each kind, one runner per process (started by the
    # HTTP app's lifespan when [scheduler] enabled); the management use cases hand changes to
    # it. The CLI calls them with scheduler=None: changes reach a running server through the
    # store (the runner re-reads it every reconcile_s), "run" runs inline. ---
    job_work = providers.Dict(
        {
            JobKind.COLLECT: providers.Factory(CollectWork, ensure_history),
            JobKind.VALIDATE: providers.Factory(ValidateWork, validate_series, cross_venue=True),
            JobKind.REPAIR: providers.Factory(RepairWork, repair_series),
            JobKind.RETAIN: providers.Factory(RetainWork, apply_retention),
        }
    )
    # kinds that work on the whole job rather than per series
    job_whole_work = providers.Dict(
        {JobKind.EVALUATE: providers.Factory(EvaluateWork, evaluate_strategy)}
    )
    run_job = providers.Singleton(
        RunJob,
        jobs=job_store,
        bars=bar_store,
        clock=clock,
        work=job_work,
        whole_work=job_whole_work,
    )
    job_kinds: providers.Callable[frozenset[Any]] = providers.Callable(
        lambda work, whole: frozenset(work) | frozenset(whole), job_work, job_whole_work
    )
    run_job = providers.Singleton(observed, "job", run_job, telemetry, observations)
    job_runner = providers.Singleton(
        _job_runner,
        jobs=job_store,
        run_job=run_job,
        clock=clock,
        scheduler=settings.provided.scheduler,
    )
    job_scheduler = providers.Selector(
        providers.Callable(_scheduler_mode, settings), on=job_runner, off=providers.Object(None)
    )
    create_job = providers.Factory(
        CreateJob, jobs=job_store, clock=clock, scheduler=job_scheduler, supported_kinds=job_kinds
    )
    list_jobs = providers.Factory(ListJobs, jobs=job_store, clock=clock, scheduler=job_scheduler)
    get_job = providers.Factory(GetJob, jobs=job_store, clock=clock, scheduler=job_scheduler)
    update_job = providers.Factory(
        UpdateJob, jobs=job_store, clock=clock, scheduler=job_scheduler, supported_kinds=job_kinds
    )
    delete_job = providers.Factory(DeleteJob, jobs=job_store, clock=clock, scheduler=job_scheduler)
    pause_job = providers.Factory(PauseJob, jobs=job_store, clock=clock, scheduler=job_scheduler)
    resume_job = providers.Factory(ResumeJob, jobs=job_store, clock=clock, scheduler=job_scheduler)
    run_job_now = providers.Factory(
        RunJobNow, jobs=job_store, clock=clock, run_job=run_job, scheduler=job_scheduler
    )
    list_job_runs = providers.Factory(
        ListJobRuns, jobs=job_store, clock=clock, scheduler=job_scheduler
    )
    sync_config_jobs = providers.Factory(
        SyncConfigJobs, jobs=job_store, clock=clock, scheduler=job_scheduler
    )

    # --- live streams (issue 17): [[streams]] and POST /api/v1/streams, run by `arbx serve`;
    # the channel registry is entrypoints/streams.py; one supervisor per process ---
    stream_channels = providers.Singleton(
        _stream_channels,
        http_session,
        trade_store,
        bar_store,
        providers.Callable(_stream_urls, settings.provided.exchanges),
        stores.provided.books,
    )
    stream_supervisor = providers.Singleton(StreamSupervisor, stream_channels, telemetry=telemetry)

    # gauges of the venues' breakers and the server profile's pool (registered once)
    component_gauges = providers.Singleton(
        watch_components,
        telemetry,
        exchange_clients,
        providers.Selector(
            settings.provided.profile, local=providers.Object(None), server=postgres_pool
        ),
    )

    # --- alerts: rules (config and API), their evaluation, the channels notified ---
    alert_store = stores.provided.alerts
    notifications = providers.Singleton(
        Notifications,
        providers.Singleton(alert_channels, settings.provided.alerts, http_session),
        clock=clock,
        telemetry=telemetry,
        attempts=settings.provided.alerts.attempts,
        base_delay_s=settings.provided.alerts.base_delay_s,
        max_delay_s=settings.provided.alerts.max_delay_s,
    )
    evaluate_alerts = providers.Singleton(
        EvaluateAlerts,
        store=alert_store,
        observations=observations,
        bars=bar_store,
        jobs=job_store,
        exchanges=exchange_clients,
        notifications=notifications,
        clock=clock,
        audit=audit_log,  # catalog rollbacks feed strategy_rolled_back
        streams=stream_supervisor.provided.connections,  # feed stream_disconnected
    )
    manage_alert_rules = providers.Factory(
        ManageAlertRules,
        store=alert_store,
        clock=clock,
        channels=providers.Callable(channel_names, settings.provided.alerts),
    )
    alert_loop = providers.Singleton(
        AlertLoop, evaluate_alerts, notifications, settings.provided.alerts.evaluate_s
    )

    # GET /api/v1/admin/health: one instance per process (it remembers the last errors)
    check_health = providers.Singleton(
        CheckHealth,
        providers.Callable(
            health_probes,
            stores=stores,
            clients=exchange_clients,
            scheduler=job_scheduler,
            pool=providers.Selector(
                settings.provided.profile, local=providers.Object(None), server=postgres_pool
            ),
            observations=observations,
            workers=settings.provided.backtest.pool_workers,
            notifications=notifications,
            streams=stream_supervisor,
        ),
        clock=clock,
        timeout_s=settings.provided.http.ready_timeout_s,
    )

    # async callables returning a readiness Check: the venues' breakers, the profile's database
    readiness_probes = providers.List(
        providers.Callable(exchanges_probe, exchange_clients), stores.provided.database_probe
    )
    check_readiness = providers.Factory(
        CheckReadiness,
        bar_store=bar_store,
        probes=readiness_probes,
        timeout_s=settings.provided.http.ready_timeout_s,
    )

    # --- backups (issue 20): every store's section, see entrypoints/backup_sections.py ---
    backup_archives = providers.Singleton(_backup_archives, settings.provided.storage.s3)
    backup_sections = providers.Callable(_backup_sections, stores)
    create_backup = providers.Factory(
        CreateBackup,
        sections=backup_sections,
        archives=backup_archives,
        clock=clock,
        version=arbx.__version__,
        profile=settings.provided.profile,
    )
    verify_backup = providers.Factory(VerifyBackup, archives=backup_archives)
    restore_backup = providers.Factory(
        RestoreBackup, sections=backup_sections, archives=backup_archives
    )

    # --- auth ---
    auth_secrets = providers.Singleton(read_auth_secrets, settings)
    password_hasher = providers.Singleton(_password_hasher, settings.provided.auth)
    token_service = providers.Singleton(_token_service, settings.provided.auth, auth_secrets, clock)
    secret_service = providers.Singleton(_secret_service, auth_secrets)
    rate_limiter = providers.Singleton(_rate_limiter, settings, clock)
    login_throttle = providers.Singleton(_login_throttle, settings, clock)
    session_policy = providers.Singleton(_session_policy, settings)
    session_tokens = providers.Singleton(
        SessionTokens,
        tokens=token_service,
        secrets=secret_service,
        refresh_tokens=refresh_token_store,
        policy=session_policy,
    )
    authenticate = providers.Singleton(
        Authenticate,
        users=user_store,
        hasher=password_hasher,
        sessions=session_tokens,
        throttle=login_throttle,
        audit=audit_trail,
        clock=clock,
    )
    authorize = providers.Singleton(
        Authorize,
        users=user_store,
        api_keys=api_key_store,
        tokens=token_service,
        secrets=secret_service,
        clock=clock,
        sessions=refresh_token_store,
        cache=principal_cache,
    )
    refresh_session = providers.Factory(
        RefreshSession, users=user_store, sessions=session_tokens, audit=audit_trail, clock=clock
    )
    logout = providers.Factory(
        Logout,
        refresh_tokens=refresh_token_store,
        secrets=secret_service,
        audit=audit_trail,
        clock=clock,
    )
    create_user = providers.Factory(
        CreateUser, users=user_store, hasher=password_hasher, audit=audit_trail, clock=clock
    )
    create_first_admin = providers.Factory(
        CreateFirstAdmin, users=user_store, hasher=password_hasher, audit=audit_trail, clock=clock
    )
    set_user_state = providers.Factory(
        SetUserState,
        users=user_store,
        refresh_tokens=refresh_token_store,
        audit=audit_trail,
        clock=clock,
    )
    assign_roles = providers.Factory(
        AssignRoles,
        users=user_store,
        refresh_tokens=refresh_token_store,
        audit=audit_trail,
        clock=clock,
    )
    reset_password = providers.Factory(
        ResetPassword,
        users=user_store,
        refresh_tokens=refresh_token_store,
        hasher=password_hasher,
        audit=audit_trail,
        clock=clock,
    )
    change_own_password = providers.Factory(
        ChangeOwnPassword,
        users=user_store,
        refresh_tokens=refresh_token_store,
        hasher=password_hasher,
        audit=audit_trail,
        clock=clock,
    )
    list_users = providers.Factory(ListUsers, users=user_store, audit=audit_trail)
    create_api_key = providers.Factory(
        CreateApiKey,
        api_keys=api_key_store,
        users=user_store,
        secrets=secret_service,
        audit=audit_trail,
        clock=clock,
    )
    list_api_keys = providers.Factory(ListApiKeys, api_keys=api_key_store, audit=audit_trail)
    revoke_api_key = providers.Factory(
        RevokeApiKey, api_keys=api_key_store, audit=audit_trail, clock=clock
    )
    query_audit_log = providers.Factory(QueryAuditLog, audit=audit_log)


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)
