"""AuditLog on SQLite: INSERT and SELECT only (triggers refuse UPDATE and DELETE too)."""

from __future__ import annotations

import sqlite3
from typing import Any

from arbx.adapters.sqlite.codecs import from_micros, to_micros
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.domain.auth import AuditEntry, AuditEvent, AuditOutcome, AuditQuery
from arbx.ports.audit_log import AuditLog


def _entry(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        seq=row["seq"],
        event=AuditEvent(
            at=from_micros(row["at"]),
            actor=row["actor"],
            action=row["action"],
            outcome=AuditOutcome(row["outcome"]),
            target=row["target"],
            client_address=row["client_address"],
            detail=row["detail"],
        ),
    )


def _where(query: AuditQuery) -> tuple[str, list[Any]]:
    """SQL for ``AuditQuery.matches`` (the domain's reference semantics)."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.actor is not None:
        clauses.append("actor = ?")
        params.append(query.actor)
    if query.action is not None:
        # substr, not LIKE: '_' is a LIKE wildcard and is common in action names
        below = query.action + "."
        clauses.append("(action = ? OR substr(action, 1, ?) = ?)")
        params += [query.action, len(below), below]
    if query.outcome is not None:
        clauses.append("outcome = ?")
        params.append(query.outcome.value)
    if query.target is not None:
        clauses.append("target = ?")
        params.append(query.target)
    if query.since is not None:
        clauses.append("at >= ?")
        params.append(to_micros(query.since))
    if query.until is not None:
        clauses.append("at < ?")
        params.append(to_micros(query.until))
    if query.before_seq is not None:
        clauses.append("seq < ?")
        params.append(query.before_seq)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class SqliteAuditLog(AuditLog):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def append(self, event: AuditEvent) -> int:
        def insert(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO audit_log"
                " (at, actor, action, outcome, target, client_address, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    to_micros(event.at),
                    event.actor,
                    event.action,
                    event.outcome.value,
                    event.target,
                    event.client_address,
                    event.detail,
                ),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

        return await self._db.run(insert)

    async def query(self, query: AuditQuery) -> list[AuditEntry]:
        where, params = _where(query)
        sql = (
            "SELECT seq, at, actor, action, outcome, target, client_address, detail"
            f" FROM audit_log{where} ORDER BY seq DESC LIMIT ?"
        )
        rows = await self._db.run(lambda conn: conn.execute(sql, [*params, query.limit]).fetchall())
        return [_entry(row) for row in rows]
