"""The PostgreSQL auth and job stores beyond their shared contracts: the audit log refuses
changes even from SQL that bypasses the port, and stores on an unreachable server raise
StorageUnavailable."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.audit_log import PostgresAuditLog
from arbx.adapters.postgres.job_store import PostgresJobStore
from arbx.adapters.postgres.user_store import PostgresUserStore
from arbx.domain.auth import AuditEvent, AuditOutcome, AuditQuery
from arbx.domain.errors import StorageUnavailable
from tests.support.postgres import PostgresTestDatabase

pytestmark = pytest.mark.postgres

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE {} SET actor = 'someone else'", "DELETE FROM {}", "TRUNCATE {}"],
)
async def test_the_audit_log_refuses_update_delete_and_truncate_even_in_sql(
    postgres_audit_log: PostgresAuditLog,
    postgres_database: PostgresTestDatabase,
    admin_conn: psycopg.AsyncConnection[Any],
    statement: str,
) -> None:
    await postgres_audit_log.append(
        AuditEvent(at=T0, actor="user:u1", action="auth.login", outcome=AuditOutcome.SUCCESS)
    )
    table = sql.Identifier(postgres_database.schema, "audit_log")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        await admin_conn.execute(sql.SQL(statement).format(table))
    entries = await postgres_audit_log.query(AuditQuery())
    assert [e.event.actor for e in entries] == ["user:u1"]


def _dead_pool() -> AsyncConnectionPool:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return AsyncConnectionPool(
        f"postgresql://arbx@127.0.0.1:{port}/arbx", min_size=0, max_size=1, timeout=0.2, open=False
    )


async def test_stores_on_an_unreachable_server_raise_storage_unavailable() -> None:
    pool = _dead_pool()
    await pool.open(wait=False)
    try:
        with pytest.raises(StorageUnavailable):
            await PostgresUserStore(pool, "arbx").count_active_admins()
        with pytest.raises(StorageUnavailable):
            await PostgresAuditLog(pool, "arbx").query(AuditQuery())
        with pytest.raises(StorageUnavailable):
            await PostgresJobStore(pool, "arbx").list()
    finally:
        await pool.close()
