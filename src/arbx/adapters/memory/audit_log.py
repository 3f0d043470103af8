"""An append-only AuditLog held in a list."""

from __future__ import annotations

from arbx.domain.auth import AuditEntry, AuditEvent, AuditQuery
from arbx.ports.audit_log import AuditLog


class MemoryAuditLog(AuditLog):
    def __init__(self) -> None:
        self._entries: list[AuditEntry] = []

    async def append(self, event: AuditEvent) -> int:
        seq = len(self._entries) + 1
        self._entries.append(AuditEntry(seq=seq, event=event))
        return seq

    async def query(self, query: AuditQuery) -> list[AuditEntry]:
        found: list[AuditEntry] = []
        for entry in reversed(self._entries):
            if query.matches(entry):
                found.append(entry)
                if len(found) == query.limit:
                    break
        return found
