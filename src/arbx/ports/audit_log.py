"""The audit log port: append-only."""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

from arbx.domain.auth import AuditEntry, AuditEvent, AuditQuery


class AuditLog(Protocol):
    """An append-only record of auth events and state-changing requests.

    There is deliberately no way to change or remove an entry through this port.

    Contract:
    - ``append`` stores the event and returns its sequence number, larger than every number
      returned before.
    - ``query`` returns the entries matching ``AuditQuery.matches``, newest (highest seq)
      first, at most ``query.limit``.
    """

    @abstractmethod
    async def append(self, event: AuditEvent) -> int: ...

    @abstractmethod
    async def query(self, query: AuditQuery) -> list[AuditEntry]: ...
