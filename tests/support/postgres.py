"""PostgreSQL for tests: one scratch schema per test run, migrated once, dropped at the end.

The server is ARBX_TEST_DATABASE_URL or postgresql://postgres@127.0.0.1:5432/test. When it
cannot be reached, tests that need it fail when CI is set and skip with the reason otherwise.

Pools are bound to an event loop and pytest-asyncio gives each test its own loop, so pools are
function-scoped; the session fixture does its async set-up on a private loop in a thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.api_key_store import PostgresApiKeyStore
from arbx.adapters.postgres.audit_log import PostgresAuditLog
from arbx.adapters.postgres.bar_store import PostgresBarStore
from arbx.adapters.postgres.job_store import PostgresJobStore
from arbx.adapters.postgres.migrate import upgrade
from arbx.adapters.postgres.pool import PoolConfig, open_pool
from arbx.adapters.postgres.quality_store import PostgresQualityStore
from arbx.adapters.postgres.refresh_token_store import PostgresRefreshTokenStore
from arbx.adapters.postgres.run_store import PostgresRunStore
from arbx.adapters.postgres.urls import redact
from arbx.adapters.postgres.user_store import PostgresUserStore

DEFAULT_TEST_URL = "postgresql://postgres@127.0.0.1:5432/test"
IN_CI = bool(os.environ.get("CI"))
T = TypeVar("T")


def test_database_url() -> str:
    return os.environ.get("ARBX_TEST_DATABASE_URL", DEFAULT_TEST_URL)


@dataclass(frozen=True)
class PostgresTestDatabase:
    """The reachable test server and this run's migrated schema."""

    url: str
    schema: str

    def pool_config(self, **overrides: Any) -> PoolConfig:
        values: dict[str, Any] = {"min_size": 1, "max_size": 4, "startup_timeout": 10.0}
        values.update(overrides)
        return PoolConfig(self.url, **values)

    def connect(self) -> psycopg.Connection[Any]:
        """A plain synchronous autocommit connection, for set-up and inspection."""
        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def new_schema_name(self, prefix: str = "arbx_test") -> str:
        return f"{prefix}_{uuid.uuid4().hex[:12]}"

    def drop_schema(self, schema: str) -> None:
        with self.connect() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def run_in_fresh_loop(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a private loop in a thread (safe inside any loop)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(make())
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="postgres-test-setup")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    result: T = outcome["value"]
    return result


def unreachable(reason: str) -> None:
    message = (
        f"PostgreSQL test server {redact(test_database_url())} is unreachable: {reason}."
        " Start it (pg_ctlcluster 15 main start) or set ARBX_TEST_DATABASE_URL."
    )
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[PostgresTestDatabase]:
    """The test server with this run's schema migrated to head; dropped after the run."""
    url = test_database_url()
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        unreachable(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    database = PostgresTestDatabase(url, f"arbx_test_{uuid.uuid4().hex[:12]}")

    async def migrate() -> None:
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        async with conn:
            await upgrade(conn, database.schema)

    run_in_fresh_loop(migrate)
    try:
        yield database
    finally:
        database.drop_schema(database.schema)


@pytest.fixture
async def postgres_pool(
    postgres_database: PostgresTestDatabase,
) -> AsyncIterator[AsyncConnectionPool]:
    """A small pool on the test server, bound to this test's event loop."""
    pool = await open_pool(postgres_database.pool_config())
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def postgres_bar_store(
    postgres_database: PostgresTestDatabase, postgres_pool: AsyncConnectionPool
) -> PostgresBarStore:
    """A PostgresBarStore on an empty market_data table of this run's schema."""
    async with postgres_pool.connection() as conn:
        await conn.execute(
            sql.SQL("TRUNCATE {}").format(sql.Identifier(postgres_database.schema, "market_data"))
        )
    return PostgresBarStore(postgres_pool, postgres_database.schema)


@pytest.fixture
async def postgres_quality_store(
    postgres_database: PostgresTestDatabase, postgres_pool: AsyncConnectionPool
) -> PostgresQualityStore:
    """A PostgresQualityStore on empty quality tables of this run's schema."""
    async with postgres_pool.connection() as conn:
        await conn.execute(
            sql.SQL("TRUNCATE {}, {}").format(
                sql.Identifier(postgres_database.schema, "data_validation_issues"),
                sql.Identifier(postgres_database.schema, "data_gaps"),
            )
        )
    return PostgresQualityStore(postgres_pool, postgres_database.schema)


@pytest.fixture
async def postgres_run_store(
    postgres_database: PostgresTestDatabase, postgres_pool: AsyncConnectionPool
) -> PostgresRunStore:
    """A PostgresRunStore on empty run tables of this run's schema."""
    async with postgres_pool.connection() as conn:
        await conn.execute(
            sql.SQL("TRUNCATE {} CASCADE").format(
                sql.Identifier(postgres_database.schema, "backtest_runs")
            )
        )
    return PostgresRunStore(postgres_pool, postgres_database.schema)


@pytest.fixture
async def postgres_job_store(
    postgres_database: PostgresTestDatabase, postgres_pool: AsyncConnectionPool
) -> PostgresJobStore:
    """A PostgresJobStore on empty job tables of this run's schema."""
    async with postgres_pool.connection() as conn:
        await conn.execute(
            sql.SQL("TRUNCATE {} CASCADE").format(sql.Identifier(postgres_database.schema, "jobs"))
        )
    return PostgresJobStore(postgres_pool, postgres_database.schema)


@pytest.fixture
async def postgres_auth_tables(
    postgres_database: PostgresTestDatabase, postgres_pool: AsyncConnectionPool
) -> AsyncConnectionPool:
    """Empties users, keys, tokens and the audit log of this run's schema; returns the pool.

    The audit log refuses TRUNCATE through a trigger; its owner (the test role) switches that
    trigger off for the one statement, inside a transaction, so nothing else can slip through.
    """
    schema = postgres_database.schema
    tables = ("users", "user_roles", "api_keys", "refresh_tokens", "audit_log")
    audit = sql.Identifier(schema, "audit_log")
    async with postgres_pool.connection() as conn, conn.transaction():
        await conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(audit))
        await conn.execute(
            sql.SQL("TRUNCATE {}").format(
                sql.SQL(", ").join(sql.Identifier(schema, t) for t in tables)
            )
        )
        await conn.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(audit))
    return postgres_pool


@pytest.fixture
def postgres_user_store(
    postgres_database: PostgresTestDatabase, postgres_auth_tables: AsyncConnectionPool
) -> PostgresUserStore:
    return PostgresUserStore(postgres_auth_tables, postgres_database.schema)


@pytest.fixture
def postgres_api_key_store(
    postgres_database: PostgresTestDatabase, postgres_auth_tables: AsyncConnectionPool
) -> PostgresApiKeyStore:
    return PostgresApiKeyStore(postgres_auth_tables, postgres_database.schema)


@pytest.fixture
def postgres_refresh_token_store(
    postgres_database: PostgresTestDatabase, postgres_auth_tables: AsyncConnectionPool
) -> PostgresRefreshTokenStore:
    return PostgresRefreshTokenStore(postgres_auth_tables, postgres_database.schema)


@pytest.fixture
def postgres_audit_log(
    postgres_database: PostgresTestDatabase, postgres_auth_tables: AsyncConnectionPool
) -> PostgresAuditLog:
    return PostgresAuditLog(postgres_auth_tables, postgres_database.schema)
