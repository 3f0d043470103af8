"""The audit log, read-only (admins): newest first, filtered, paged by ``before_seq``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from arbx.app.authorize import QueryAuditLog
from arbx.domain.auth import AuditEntry, AuditOutcome, AuditQuery, Permission, Principal
from arbx.domain.auth.audit import MAX_QUERY_LIMIT
from arbx.domain.errors import InvalidInput
from arbx.entrypoints.http.security import requires
from arbx.entrypoints.schemas.spans import instant


class AuditEntryOut(msgspec.Struct):
    seq: int
    at: datetime
    actor: str
    action: str
    outcome: str
    target: str | None
    client_address: str | None
    detail: str | None

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        event = entry.event
        return cls(
            seq=entry.seq,
            at=event.at,
            actor=event.actor,
            action=event.action,
            outcome=event.outcome.value,
            target=event.target,
            client_address=event.client_address,
            detail=event.detail,
        )


class AuditPage(msgspec.Struct):
    entries: list[AuditEntryOut]
    next_before_seq: int | None


def _outcome(text: str | None) -> AuditOutcome | None:
    if text is None:
        return None
    try:
        return AuditOutcome(text)
    except ValueError:
        names = ", ".join(o.value for o in AuditOutcome)
        raise InvalidInput(f"outcome must be one of {names}", field="outcome") from None


@get(
    "/",
    summary="Audit log entries, newest first; page with next_before_seq",
    guards=[requires(Permission.AUDIT_READ, group="admin")],
)
async def query_audit(
    query_audit_log: NamedDependency[QueryAuditLog],
    principal: NamedDependency[Principal],
    actor: Annotated[str | None, QueryParameter(description="user:<id>, api_key:<id>")] = None,
    action: Annotated[str | None, QueryParameter(description="e.g. auth or auth.login")] = None,
    outcome: Annotated[str | None, QueryParameter(description="success, failure, denied")] = None,
    target: Annotated[str | None, QueryParameter(description="e.g. user:<id>")] = None,
    since: Annotated[str | None, QueryParameter(description="ISO-8601 or epoch ms")] = None,
    until: Annotated[str | None, QueryParameter(description="ISO-8601 or epoch ms")] = None,
    before_seq: Annotated[int | None, QueryParameter(ge=1)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_QUERY_LIMIT)] = 100,
) -> AuditPage:
    query = AuditQuery(
        actor=actor,
        action=action,
        outcome=_outcome(outcome),
        target=target,
        since=instant(since, "since"),
        until=instant(until, "until"),
        before_seq=before_seq,
        limit=limit,
    )
    entries = await query_audit_log.execute(principal, query)
    more = len(entries) == limit and entries[-1].seq > 1
    return AuditPage(
        entries=[AuditEntryOut.of(entry) for entry in entries],
        next_before_seq=entries[-1].seq if more else None,
    )


ROUTES = [query_audit]
