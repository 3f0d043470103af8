"""AuditTrail keeps events while the audit store is down and writes them, in order, after."""

from __future__ import annotations

from datetime import UTC, datetime

from arbx.adapters.memory.audit_log import MemoryAuditLog
from arbx.app.authorize import AuditTrail
from arbx.domain.auth import AuditEvent, AuditOutcome, AuditQuery
from arbx.domain.errors import StorageUnavailable
from arbx.ports.clock import Clock


class FixedClock(Clock):
    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)


class FlakyAuditLog(MemoryAuditLog):
    """A memory audit log that can be taken down like a database."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def append(self, event: AuditEvent) -> int:
        if self.down:
            raise StorageUnavailable("PostgreSQL is unreachable")
        return await super().append(event)


async def actions(log: MemoryAuditLog) -> list[str]:
    entries = await log.query(AuditQuery(limit=100))
    return [e.event.action for e in reversed(entries)]


async def test_events_recorded_while_the_store_is_down_are_written_in_order_after() -> None:
    store = FlakyAuditLog()
    trail = AuditTrail(store, FixedClock())
    await trail.record("user:a", "one", AuditOutcome.SUCCESS)
    store.down = True
    await trail.record("user:a", "two", AuditOutcome.SUCCESS)
    await trail.record("user:a", "three", AuditOutcome.DENIED)
    assert trail.pending == 2
    assert await actions(store) == ["one"]
    store.down = False
    await trail.record("user:a", "four", AuditOutcome.SUCCESS)
    assert await actions(store) == ["one", "two", "three", "four"]
    assert (trail.pending, trail.dropped) == (0, 0)


async def test_flush_writes_what_is_pending_without_a_new_event() -> None:
    store = FlakyAuditLog()
    trail = AuditTrail(store, FixedClock())
    store.down = True
    await trail.record("user:a", "one", AuditOutcome.SUCCESS)
    assert await trail.flush() == 0
    store.down = False
    assert await trail.flush() == 1
    assert await actions(store) == ["one"]


async def test_the_queue_is_bounded_and_counts_what_it_dropped() -> None:
    store = FlakyAuditLog()
    trail = AuditTrail(store, FixedClock(), max_pending=3)
    store.down = True
    for name in ("a", "b", "c", "d", "e"):
        await trail.record("user:a", name, AuditOutcome.SUCCESS)
    assert (trail.pending, trail.dropped) == (3, 2)
    store.down = False
    await trail.flush()
    assert await actions(store) == ["c", "d", "e"]
