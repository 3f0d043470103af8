"""AuditLog on PostgreSQL: INSERT and SELECT only (``audit_log`` from migration 0005_auth,
whose triggers refuse UPDATE, DELETE and TRUNCATE even from SQL that bypasses this class)."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.codecs import as_utc
from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.identifiers import SchemaTables
from arbx.domain.auth import AuditEntry, AuditEvent, AuditOutcome, AuditQuery
from arbx.ports.audit_log import AuditLog

_COLUMNS = "at, actor, action, outcome, target, client_address, detail"


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    seq, at, actor, action, outcome, target, client_address, detail = row
    return AuditEntry(
        seq=int(seq),
        event=AuditEvent(
            at=as_utc(at),
            actor=actor,
            action=action,
            outcome=AuditOutcome(outcome),
            target=target,
            client_address=client_address,
            detail=detail,
        ),
    )


def _where(query: AuditQuery) -> tuple[str, list[Any]]:
    """SQL for ``AuditQuery.matches`` (the domain's reference semantics)."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.actor is not None:
        clauses.append("actor = %s")
        params.append(query.actor)
    if query.action is not None:
        # starts_with, not LIKE: '_' is a LIKE wildcard and common in action names
        clauses.append("(action = %s OR starts_with(action, %s))")
        params += [query.action, query.action + "."]
    if query.outcome is not None:
        clauses.append("outcome = %s")
        params.append(query.outcome.value)
    if query.target is not None:
        clauses.append("target = %s")
        params.append(query.target)
    if query.since is not None:
        clauses.append("at >= %s")
        params.append(query.since)
    if query.until is not None:
        clauses.append("at < %s")
        params.append(query.until)
    if query.before_seq is not None:
        clauses.append("seq < %s")
        params.append(query.before_seq)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class PostgresAuditLog(AuditLog):
    def __init__(self, pool: AsyncConnectionPool, schema: str) -> None:
        self._pool = pool
        self._t = SchemaTables(schema, "audit_log")

    async def append(self, event: AuditEvent) -> int:
        with storage_errors(f"record audit event {event.action!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    self._t.sql(
                        "INSERT INTO {audit_log} (" + _COLUMNS + ")"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING seq"
                    ),
                    (
                        event.at,
                        event.actor,
                        event.action,
                        event.outcome.value,
                        event.target,
                        event.client_address,
                        event.detail,
                    ),
                )
                row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def query(self, query: AuditQuery) -> list[AuditEntry]:
        where, params = _where(query)
        statement = self._t.sql(
            "SELECT seq, " + _COLUMNS + " FROM {audit_log}" + where + " ORDER BY seq DESC LIMIT %s"
        )
        with storage_errors("read the audit log"):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(statement, [*params, max(query.limit, 0)])
                rows = await cur.fetchall()
        return [_entry(row) for row in rows]
