"""The storage profiles: which stores each one builds, in one bundle.

``local`` keeps bars in Parquet under ``<data_dir>/bars`` and everything else in one SQLite
file; ``server`` keeps everything in PostgreSQL. The container picks one bundle, once, from
``settings.profile``; nothing else asks which profile is active to choose a store.

Each profile imports its adapters inside its own functions, so a process on the local
profile never imports the PostgreSQL driver (and the CLI starts faster).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from arbx.app.readiness import Check, Probe
from arbx.domain.errors import ArbxError
from arbx.entrypoints.settings import DatabaseSettings, S3Settings, Settings
from arbx.ports.alert_store import AlertStore
from arbx.ports.api_key_store import ApiKeyStore
from arbx.ports.audit_log import AuditLog
from arbx.ports.bar_store import BarStore
from arbx.ports.book_store import BookStore
from arbx.ports.catalog_store import CatalogStore
from arbx.ports.job_store import JobStore
from arbx.ports.quality_store import QualityStore
from arbx.ports.refresh_token_store import RefreshTokenStore
from arbx.ports.run_store import RunStore
from arbx.ports.study_store import StudyStore
from arbx.ports.user_store import UserStore
from arbx.ports.walk_forward_store import WalkForwardStore

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from arbx.adapters.objectstore.connect import S3Options
    from arbx.adapters.postgres.pool import PoolConfig
    from arbx.adapters.postgres.timescale import LayoutOptions
    from arbx.adapters.sqlite.database import SqliteDatabase


@dataclass(frozen=True, slots=True)
class Stores:
    """Every store of one profile, and the readiness check of its database."""

    bars: BarStore
    quality: QualityStore
    runs: RunStore
    jobs: JobStore
    users: UserStore
    api_keys: ApiKeyStore
    refresh_tokens: RefreshTokenStore
    audit: AuditLog
    database_probe: Probe
    studies: StudyStore
    catalog: CatalogStore
    alerts: AlertStore
    books: BookStore  # recorded quotes and L2 book updates (issue 17)
    walk_forwards: WalkForwardStore


# -- local: Parquet bars, SQLite for the rest -------------------------------------------------


def sqlite_path(settings: Settings) -> Path:
    return settings.data_dir / "arbx.sqlite"


# What an arbx data dir holds; a folder with anything else in it is not arbx's to tighten.
_DATA_DIR_ENTRIES = frozenset(
    {"arbx.sqlite", "secrets.toml", "bars", "trades", "quotes", "books", "serve.lock"}
)


def private_dir(path: Path) -> None:
    """The data dir holds the secrets and the user database: its owner's only (0700).

    A folder that arbx did not make is tightened only when it holds nothing but arbx's own
    files: with the default ``./var`` run from ``/``, the data dir is the system's ``/var``,
    and making that 0700 locks every service out of it (it stopped PostgreSQL here).
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.stat().st_mode & 0o077:
        return
    foreign = sorted(
        entry.name
        for entry in path.iterdir()
        if entry.name not in _DATA_DIR_ENTRIES and not entry.name.startswith("arbx.sqlite-")
    )
    if foreign:
        log.warning(
            "data dir %s holds files that are not arbx's (%s): its mode is left as it is;"
            " use a folder of its own (--data-dir or ARBX_DATA_DIR) to keep the secrets private",
            path,
            ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else ""),
        )
        return
    path.chmod(0o700)


async def open_sqlite(path: Path) -> AsyncIterator[SqliteDatabase]:
    """The local profile's SQLite file, migrated to head, closed at shutdown."""
    from arbx.adapters.sqlite.database import SqliteDatabase

    await asyncio.to_thread(private_dir, path.parent)
    database = SqliteDatabase(path)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


def s3_options(s3: S3Settings) -> S3Options:
    """The config's [storage.s3] as the object-storage adapters take it (issue 20)."""
    from arbx.adapters.objectstore.connect import S3Options

    return S3Options(
        endpoint=s3.endpoint,
        region=s3.region,
        access_key_id=s3.access_key_id,
        secret_access_key=s3.secret_access_key,
        allow_http=s3.allow_http,
    )


def local_bar_store(settings: Settings) -> BarStore:
    """The local profile's Parquet bars under ``<data_dir>/bars`` with its read cache."""
    from arbx.adapters.parquet.bar_store import ParquetBarStore
    from arbx.adapters.parquet.cache import read_cache

    if settings.storage.bars_url:  # an S3-compatible bucket (issue 20)
        from arbx.adapters.objectstore.bar_store import ObjectStoreBarStore

        return ObjectStoreBarStore.from_url(
            settings.storage.bars_url, s3_options(settings.storage.s3)
        )

    return ParquetBarStore(
        settings.data_dir / "bars", cache=read_cache(settings.storage.bars_cache_bytes)
    )


def local_book_store(settings: Settings) -> BookStore:
    """Recorded quotes and book updates under ``<data_dir>`` (``quotes/``, ``books/``), or in
    the bucket of ``storage.books_url``."""
    from arbx.adapters.parquet.book_store import ParquetBookStore

    if settings.storage.books_url:  # an S3-compatible bucket (issue 20)
        from arbx.adapters.objectstore.book_store import ObjectStoreBookStore

        return ObjectStoreBookStore.from_url(
            settings.storage.books_url, s3_options(settings.storage.s3)
        )
    return ParquetBookStore(settings.data_dir)


def local_stores(database: SqliteDatabase, settings: Settings) -> Stores:
    from arbx.adapters.sqlite.alert_store import SqliteAlertStore
    from arbx.adapters.sqlite.api_key_store import SqliteApiKeyStore
    from arbx.adapters.sqlite.audit_log import SqliteAuditLog
    from arbx.adapters.sqlite.catalog_store import SqliteCatalogStore
    from arbx.adapters.sqlite.job_store import SqliteJobStore
    from arbx.adapters.sqlite.quality_store import SqliteQualityStore
    from arbx.adapters.sqlite.refresh_token_store import SqliteRefreshTokenStore
    from arbx.adapters.sqlite.run_store import SqliteRunStore
    from arbx.adapters.sqlite.study_store import SqliteStudyStore
    from arbx.adapters.sqlite.user_store import SqliteUserStore
    from arbx.adapters.sqlite.walk_forward_store import SqliteWalkForwardStore

    return Stores(
        bars=local_bar_store(settings),
        quality=SqliteQualityStore(database),
        runs=SqliteRunStore(database),
        jobs=SqliteJobStore(database),
        users=SqliteUserStore(database),
        api_keys=SqliteApiKeyStore(database),
        refresh_tokens=SqliteRefreshTokenStore(database),
        audit=SqliteAuditLog(database),
        database_probe=_sqlite_probe(database),
        studies=SqliteStudyStore(database),
        catalog=SqliteCatalogStore(database),
        alerts=SqliteAlertStore(database),
        books=local_book_store(settings),
        walk_forwards=SqliteWalkForwardStore(database),
    )


def _sqlite_probe(database: SqliteDatabase) -> Probe:
    async def database_check() -> Check:
        try:
            await database.ping()
        except ArbxError as exc:
            return Check("database", False, exc.message)
        return Check("database", True, "sqlite")

    return database_check


# -- server: PostgreSQL for everything ----------------------------------------------------------


def pool_config(settings: Settings) -> PoolConfig:
    from arbx.adapters.postgres.pool import PoolConfig

    db = settings.database
    return PoolConfig(
        db.url,
        min_size=db.pool_min_size,
        max_size=db.pool_max_size,
        connect_timeout=db.connect_timeout_s,
        acquire_timeout=db.acquire_timeout_s,
        statement_timeout=db.statement_timeout_s or None,
        startup_timeout=db.startup_retry_s,
        probe_interval=db.probe_interval_s,
    )


async def open_postgres_pool(settings: Settings) -> AsyncIterator[AsyncConnectionPool]:
    """The server profile's pool (bounded start-up retries; see ``runtime.start``)."""
    from arbx.adapters.postgres.pool import pool_resource

    async for pool in pool_resource(pool_config(settings)):
        yield pool


def layout_options(settings: Settings) -> LayoutOptions:
    from datetime import timedelta

    from arbx.adapters.postgres.timescale import LayoutOptions

    db = settings.database
    return LayoutOptions(
        timescale=db.timescale,
        chunk_interval=db.chunk_interval_delta,
        compress_after=timedelta(days=db.compress_after_days),
        continuous_aggregates=db.continuous_aggregates,
    )


def server_stores(pool: AsyncConnectionPool, settings: Settings) -> Stores:
    from arbx.adapters.postgres.alert_store import PostgresAlertStore
    from arbx.adapters.postgres.api_key_store import PostgresApiKeyStore
    from arbx.adapters.postgres.audit_log import PostgresAuditLog
    from arbx.adapters.postgres.bar_store import PostgresBarStore
    from arbx.adapters.postgres.book_store import PostgresBookStore
    from arbx.adapters.postgres.catalog_store import PostgresCatalogStore
    from arbx.adapters.postgres.job_store import PostgresJobStore
    from arbx.adapters.postgres.quality_store import PostgresQualityStore
    from arbx.adapters.postgres.refresh_token_store import PostgresRefreshTokenStore
    from arbx.adapters.postgres.run_store import PostgresRunStore
    from arbx.adapters.postgres.study_store import PostgresStudyStore
    from arbx.adapters.postgres.user_store import PostgresUserStore
    from arbx.adapters.postgres.walk_forward_store import PostgresWalkForwardStore

    schema = settings.database.schema
    return Stores(
        bars=PostgresBarStore(pool, schema),
        quality=PostgresQualityStore(pool, schema),
        runs=PostgresRunStore(pool, schema),
        jobs=PostgresJobStore(pool, schema),
        users=PostgresUserStore(pool, schema),
        api_keys=PostgresApiKeyStore(pool, schema),
        refresh_tokens=PostgresRefreshTokenStore(pool, schema),
        audit=PostgresAuditLog(pool, schema),
        database_probe=_postgres_probe(pool, settings.database),
        studies=PostgresStudyStore(pool, schema),
        catalog=PostgresCatalogStore(pool, schema),
        alerts=PostgresAlertStore(pool, schema),
        books=PostgresBookStore(pool, schema),
        walk_forwards=PostgresWalkForwardStore(pool, schema),
    )


def _postgres_probe(pool: AsyncConnectionPool, settings: DatabaseSettings) -> Probe:
    """Readiness of PostgreSQL: answers in time, schema at head; reports the storage path."""
    from arbx.adapters.postgres.info import database_info

    schema, within = settings.schema, min(settings.acquire_timeout_s, 5.0)

    async def database() -> Check:
        try:
            info = await asyncio.wait_for(database_info(pool, schema), within)
        except TimeoutError:
            return Check("database", False, f"PostgreSQL did not answer within {within:g}s")
        except ArbxError as exc:
            return Check("database", False, exc.message)
        return Check("database", info.up_to_date, info.summary())

    return database
