"""The composition root: the only module that names concrete adapter classes.

Settings come in as a plain object; ``providers.Selector`` picks the storage profile;
resources (pools, sessions, databases) open in ``runtime.start`` and close in
``runtime.stop``. Nothing here opens a connection at import time.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from dependency_injector import containers, providers
from psycopg_pool import AsyncConnectionPool

import arbx
from arbx.adapters.compute.local_process import LocalProcessExecutor
from arbx.adapters.exchanges.binance.client import BinanceClient
from arbx.adapters.exchanges.coinbase.client import CoinbaseClient
from arbx.adapters.exchanges.common.http import RetryPolicy
from arbx.adapters.exchanges.kraken.client import KrakenClient
from arbx.adapters.files.polars_table_files import PolarsTableFiles
from arbx.adapters.parquet.bar_store import ParquetBarStore
from arbx.adapters.postgres.api_key_store import PostgresApiKeyStore
from arbx.adapters.postgres.audit_log import PostgresAuditLog
from arbx.adapters.postgres.bar_store import PostgresBarStore
from arbx.adapters.postgres.info import database_info
from arbx.adapters.postgres.job_store import PostgresJobStore
from arbx.adapters.postgres.pool import PoolConfig, pool_resource
from arbx.adapters.postgres.quality_store import PostgresQualityStore
from arbx.adapters.postgres.refresh_token_store import PostgresRefreshTokenStore
from arbx.adapters.postgres.run_store import PostgresRunStore
from arbx.adapters.postgres.timescale import LayoutOptions
from arbx.adapters.postgres.user_store import PostgresUserStore
from arbx.adapters.scheduling import ApschedulerJobRunner
from arbx.adapters.security.passwords import Argon2PasswordHasher
from arbx.adapters.security.rate_limit import InMemoryLoginThrottle, TokenBucketRateLimiter
from arbx.adapters.security.secrets import HmacSecretService
from arbx.adapters.security.tokens import JwtTokenService, SigningKey
from arbx.adapters.sqlite.api_key_store import SqliteApiKeyStore
from arbx.adapters.sqlite.audit_log import SqliteAuditLog
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.adapters.sqlite.job_store import SqliteJobStore
from arbx.adapters.sqlite.quality_store import SqliteQualityStore
from arbx.adapters.sqlite.refresh_token_store import SqliteRefreshTokenStore
from arbx.adapters.sqlite.run_store import SqliteRunStore
from arbx.adapters.sqlite.user_store import SqliteUserStore
from arbx.adapters.system_clock import SystemClock
from arbx.app.authenticate import Authenticate, SessionTokens
from arbx.app.authorize import (
    AuditTrail,
    Authorize,
    CacheForgettingSessions,
    PrincipalCache,
    QueryAuditLog,
)
from arbx.app.background_backtests import BackgroundBacktests
from arbx.app.detect_gaps import DetectGaps, ListGaps
from arbx.app.ensure_history import EnsureHistory
from arbx.app.import_bars import ImportBars, LoadSamples
from arbx.app.ingest_runs import IngestRuns
from arbx.app.logout import Logout
from arbx.app.manage_api_keys import CreateApiKey, ListApiKeys, RevokeApiKey
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
from arbx.app.query_bars import ExportBars, ListSeries, QueryBars
from arbx.app.readiness import Check, CheckReadiness, Probe
from arbx.app.refresh_session import RefreshSession
from arbx.app.repair_series import RepairSeries
from arbx.app.resample_series import ResampleSeries
from arbx.app.run_backtest import BacktestRuns, RunBacktest
from arbx.app.run_job import CollectWork, RepairWork, RunJob, ValidateWork
from arbx.app.validate_series import ListIssues, SummarizeQuality, ValidateSeries
from arbx.domain.auth import SessionPolicy
from arbx.domain.auth.limits import BucketPolicy, FailurePolicy
from arbx.domain.errors import ArbxError
from arbx.domain.jobs import JobKind
from arbx.domain.market import Exchange
from arbx.entrypoints.settings import AuthSecrets, SchedulerSettings, Settings, VenueSettings
from arbx.entrypoints.settings import auth_secrets as read_auth_secrets
from arbx.ports.clock import Clock
from arbx.ports.exchange import BreakerState, ExchangeClient, ExchangeStatus
from arbx.ports.job_store import JobStore

T = TypeVar("T")


def _data_path(settings: Settings, *parts: str) -> Path:
    return settings.data_dir.joinpath(*parts)


def _signing_keys(secrets: AuthSecrets) -> list[SigningKey]:
    return [SigningKey(kid=key.kid, secret=key.secret) for key in secrets.signing_keys]


def _session_policy(settings: Settings) -> SessionPolicy:
    auth = settings.auth
    return SessionPolicy(
        access_ttl=timedelta(seconds=auth.access_ttl_s),
        refresh_ttl=timedelta(seconds=auth.refresh_ttl_s),
        max_session_age=timedelta(seconds=auth.max_session_s),
    )


def _rate_policies(settings: Settings) -> dict[str, BucketPolicy]:
    return {
        group: BucketPolicy.per_minute(limit.per_minute, burst=limit.burst)
        for group, limit in settings.auth.rate_limits.items()
    }


def _login_failures(settings: Settings) -> FailurePolicy:
    auth = settings.auth
    return FailurePolicy(
        free=auth.login_free_failures,
        base_delay=timedelta(seconds=auth.login_base_delay_s),
        max_delay=timedelta(seconds=auth.login_max_delay_s),
        forget_after=timedelta(seconds=max(3600.0, auth.login_max_delay_s)),
    )


def _private_dir(path: Path) -> None:
    """The data dir holds the secrets and the user database: its owner's only (0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


async def _open_sqlite(path: Path) -> AsyncIterator[SqliteDatabase]:
    """The local profile's SQLite file, migrated to head, closed at shutdown."""
    await asyncio.to_thread(_private_dir, path.parent)
    database = SqliteDatabase(path)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


async def _open_http_session() -> AsyncIterator[aiohttp.ClientSession]:
    """The one aiohttp session of the process (every venue client shares its pool)."""
    session = aiohttp.ClientSession(headers={"User-Agent": f"arbx/{arbx.__version__}"})
    try:
        yield session
    finally:
        await session.close()


def _venue_options(venue: VenueSettings) -> dict[str, Any]:
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
) -> dict[Exchange, ExchangeClient]:
    """One client per enabled venue (each holds its venue's rate limit and circuit breaker)."""
    venues = settings.exchanges
    clients: dict[Exchange, ExchangeClient] = {}
    if venues.binance.enabled:
        clients[Exchange("binance")] = BinanceClient(
            session,
            weight_per_minute=venues.binance.weight_per_minute,
            **_venue_options(venues.binance),
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
                **_venue_options(venue),
            )
    return clients


def _breaker_text(status: ExchangeStatus) -> str:
    if status.breaker is BreakerState.CLOSED:
        return f"{status.venue}: closed"
    until = f" until {status.retry_at:%H:%M:%S}Z" if status.retry_at is not None else ""
    last = f" (last error: {status.last_error})" if status.last_error else ""
    return f"{status.venue}: {status.breaker.value}{until}{last}"


def _exchanges_probe(clients: Mapping[Exchange, ExchangeClient]) -> Probe:
    """Readiness of the venues: failing while any venue's circuit breaker is open."""

    async def exchanges() -> Check:
        states = [client.status() for client in clients.values()]
        detail = "; ".join(_breaker_text(s) for s in states) or "no exchange enabled"
        healthy = all(s.breaker is not BreakerState.OPEN for s in states)
        return Check("exchanges", healthy, detail, critical=False)

    return exchanges


def _job_runner(
    *, jobs: JobStore, run_job: RunJob, clock: Clock, scheduler: SchedulerSettings
) -> ApschedulerJobRunner:
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


def _pool_config(settings: Settings) -> PoolConfig:
    db = settings.database
    return PoolConfig(
        db.url,
        min_size=db.pool_min_size,
        max_size=db.pool_max_size,
        connect_timeout=db.connect_timeout_s,
        acquire_timeout=db.acquire_timeout_s,
        statement_timeout=db.statement_timeout_s or None,
        startup_timeout=db.startup_retry_s,
    )


def _layout_options(settings: Settings) -> LayoutOptions:
    db = settings.database
    return LayoutOptions(
        timescale=db.timescale,
        chunk_interval=db.chunk_interval_delta,
        compress_after=timedelta(days=db.compress_after_days),
        continuous_aggregates=db.continuous_aggregates,
    )


def _postgres_probe(pool: AsyncConnectionPool, settings: Settings) -> Probe:
    """Readiness of PostgreSQL: answers in time, schema at head; reports the storage path."""
    schema = settings.database.schema
    within = min(settings.database.acquire_timeout_s, 5.0)

    async def database() -> Check:
        try:
            info = await asyncio.wait_for(database_info(pool, schema), within)
        except TimeoutError:
            return Check("database", False, f"PostgreSQL did not answer within {within:g}s")
        except ArbxError as exc:
            return Check("database", False, exc.message)
        status = info.migrations
        pending = (
            f" ({len(status.pending)} pending: run `arbx db upgrade`)" if status.pending else ""
        )
        detail = (
            f"postgresql {info.server_version}, schema {schema} at migration"
            f" {status.current:04d}{pending}; path {info.path}: {info.layout.reason}"
        )
        return Check("database", status.up_to_date, detail)

    return database


def _sqlite_probe(database: SqliteDatabase) -> Probe:
    async def database_check() -> Check:
        try:
            await database.ping()
        except ArbxError as exc:
            return Check("database", False, exc.message)
        return Check("database", True, "sqlite")

    return database_check


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    sqlite = providers.Resource(
        _open_sqlite, path=providers.Callable(_data_path, settings, "arbx.sqlite")
    )
    # the server profile's PostgreSQL pool (bounded start-up retries; see runtime.start)
    postgres_pool = providers.Resource(
        pool_resource, config=providers.Callable(_pool_config, settings)
    )
    database_schema = settings.provided.database.schema
    database_layout = providers.Callable(_layout_options, settings)
    table_files = providers.Singleton(PolarsTableFiles)

    bar_store = providers.Selector(
        settings.provided.profile,
        local=providers.Singleton(
            ParquetBarStore,
            root=providers.Callable(_data_path, settings, "bars"),
            cache_bytes=settings.provided.storage.bars_cache_bytes,
        ),
        server=providers.Singleton(PostgresBarStore, pool=postgres_pool, schema=database_schema),
    )

    # findings and gaps
    quality_store = providers.Selector(
        settings.provided.profile,
        local=providers.Singleton(SqliteQualityStore, database=sqlite),
        server=providers.Singleton(
            PostgresQualityStore, pool=postgres_pool, schema=database_schema
        ),
    )

    import_bars = providers.Factory(
        ImportBars, files=table_files, store=bar_store, quality=quality_store, clock=clock
    )
    load_samples = providers.Factory(LoadSamples, importer=import_bars, store=bar_store)
    query_bars = providers.Factory(
        QueryBars, store=bar_store, max_limit=settings.provided.http.max_page_rows
    )
    list_series = providers.Factory(ListSeries, store=bar_store)
    export_bars = providers.Factory(ExportBars, store=bar_store, files=table_files)

    # --- data quality ---
    validate_series = providers.Factory(
        ValidateSeries, bars=bar_store, quality=quality_store, clock=clock
    )
    summarize_quality = providers.Factory(SummarizeQuality, bars=bar_store, quality=quality_store)
    list_issues = providers.Factory(ListIssues, quality=quality_store)
    detect_gaps = providers.Factory(DetectGaps, bars=bar_store, quality=quality_store)
    list_gaps = providers.Factory(ListGaps, quality=quality_store)
    repair_series = providers.Factory(RepairSeries, bars=bar_store, quality=quality_store)
    resample_series = providers.Factory(ResampleSeries, bars=bar_store)

    # --- backtests ---
    run_store = providers.Selector(
        settings.provided.profile,
        local=providers.Singleton(SqliteRunStore, database=sqlite),
        server=providers.Singleton(PostgresRunStore, pool=postgres_pool, schema=database_schema),
    )
    # CPU-heavy work off the event loop: a spawned process pool (started on first use)
    compute_executor = providers.Singleton(
        LocalProcessExecutor, workers=settings.provided.backtest.pool_workers
    )
    # background runs of this process; closed (runs in flight recorded as interrupted) by the
    # HTTP app's lifespan before the stores close
    background_backtests = providers.Singleton(
        BackgroundBacktests, runs=run_store, executor=compute_executor, clock=clock
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
    )
    backtest_runs = providers.Factory(BacktestRuns, runs=run_store, background=background_backtests)

    # --- exchanges: one HTTP session per process, one client per enabled venue ---
    http_session = providers.Resource(_open_http_session)
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
    )
    # job definitions and runs
    job_store = providers.Selector(
        settings.provided.profile,
        local=providers.Singleton(SqliteJobStore, database=sqlite),
        server=providers.Singleton(PostgresJobStore, pool=postgres_pool, schema=database_schema),
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
    # --- scheduled jobs: the work of each kind, one runner per process (started by the
    # HTTP app's lifespan when [scheduler] enabled); the management use cases hand changes to
    # it. The CLI calls them with scheduler=None: changes reach a running server through the
    # store (the runner re-reads it every reconcile_s), "run" runs inline. ---
    job_work = providers.Dict(
        {
            JobKind.COLLECT: providers.Factory(CollectWork, ensure_history),
            JobKind.VALIDATE: providers.Factory(ValidateWork, validate_series, cross_venue=True),
            JobKind.REPAIR: providers.Factory(RepairWork, repair_series),
        }
    )
    run_job = providers.Singleton(
        RunJob, jobs=job_store, bars=bar_store, clock=clock, work=job_work
    )
    job_kinds: providers.Callable[frozenset[Any]] = providers.Callable(frozenset, job_work)
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

    # async callables returning a readiness Check; stores and breakers add theirs here
    database_probe = providers.Selector(
        settings.provided.profile,
        local=providers.Callable(_sqlite_probe, sqlite),
        server=providers.Callable(_postgres_probe, postgres_pool, settings),
    )
    readiness_probes = providers.List(
        providers.Callable(_exchanges_probe, exchange_clients), database_probe
    )
    check_readiness = providers.Factory(
        CheckReadiness,
        bar_store=bar_store,
        probes=readiness_probes,
        timeout_s=settings.provided.http.ready_timeout_s,
    )

    # --- auth ---
    auth_secrets = providers.Singleton(read_auth_secrets, settings)
    password_hasher = providers.Singleton(
        Argon2PasswordHasher,
        time_cost=settings.provided.auth.argon2_time_cost,
        memory_cost_kib=settings.provided.auth.argon2_memory_kib,
        parallelism=settings.provided.auth.argon2_parallelism,
    )
    token_service = providers.Singleton(
        JwtTokenService,
        issuer=settings.provided.auth.issuer,
        audience=settings.provided.auth.audience,
        keys=providers.Callable(_signing_keys, auth_secrets),
        clock=clock,
    )
    secret_service = providers.Singleton(
        HmacSecretService, hash_key=auth_secrets.provided.secret_hash_key
    )
    rate_limiter = providers.Singleton(
        TokenBucketRateLimiter, policies=providers.Callable(_rate_policies, settings), clock=clock
    )
    login_throttle = providers.Singleton(
        InMemoryLoginThrottle,
        clock=clock,
        per_username=providers.Callable(_login_failures, settings),
    )
    session_policy = providers.Singleton(_session_policy, settings)
    user_store = providers.Selector(
        settings.provided.profile,
        local=providers.Singleton(SqliteUserStore, database=sqlite),
        server=providers.Singleton(PostgresUserStore, pool=postgres_pool, schema=database_schema),
    )
    api_key_store = providers.Selector(
        settings.provided.profile,
        local=providers.Singleton(SqliteApiKeyStore, database=sqlite),
        server=providers.Singleton(PostgresApiKeyStore, pool=postgres_pool, schema=database_schema),
    )
    stored_refresh_tokens = providers.Selector(
        settings.provided.profile,
        local=providers.Singleton(SqliteRefreshTokenStore, database=sqlite),
        server=providers.Singleton(
            PostgresRefreshTokenStore, pool=postgres_pool, schema=database_schema
        ),
    )
    principal_cache = providers.Singleton(
        PrincipalCache,
        ttl=providers.Callable(timedelta, seconds=settings.provided.auth.principal_cache_s),
    )
    # every revocation goes through this wrapper, so this process's principal cache forgets
    # the ended sessions at once
    refresh_token_store = providers.Singleton(
        CacheForgettingSessions, store=stored_refresh_tokens, cache=principal_cache
    )
    audit_log = providers.Selector(
        settings.provided.profile,
        local=providers.Singleton(SqliteAuditLog, database=sqlite),
        server=providers.Singleton(PostgresAuditLog, pool=postgres_pool, schema=database_schema),
    )
    audit_trail = providers.Singleton(AuditTrail, audit=audit_log, clock=clock)
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
    container = Container(settings=settings)
    return container


async def resolve(provider: Any) -> Any:
    """Call a provider; await the result when it depends on an async resource."""
    value = provider()
    if inspect.isawaitable(value):
        value = await value
    return value
