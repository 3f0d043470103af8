"""Cancelling background backtests and the plugin time limit, with a call that never returns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from arbx.adapters.compute.in_process import InProcessExecutor
from arbx.adapters.compute.local_process import LocalProcessExecutor
from arbx.adapters.memory.audit_log import MemoryAuditLog
from arbx.adapters.memory.run_store import MemoryRunStore
from arbx.app.authorize import AuditTrail
from arbx.app.background_backtests import BackgroundBacktests, BackgroundRun, CancelBacktest
from arbx.domain.auth import AuditQuery, Principal, PrincipalKind, Role
from arbx.domain.errors import Conflict, Forbidden
from arbx.domain.strategies.plugin import StrategyFailed
from arbx.ports.clock import Clock
from arbx.ports.executor import Executor
from tests.support.compute_calls import add, slow_result, spin


class StillClock(Clock):
    def now(self) -> datetime:
        return datetime(2025, 1, 1, tzinfo=UTC)


def user(user_id: str, role: Role = Role.ANALYST) -> Principal:
    return Principal(
        kind=PrincipalKind.USER, user_id=user_id, username=user_id, roles=frozenset({role})
    )


@dataclass
class World:
    runs: MemoryRunStore
    audit: MemoryAuditLog
    executor: Executor
    background: BackgroundBacktests
    stored: list[Any]

    def run(self, compute: Any, *, owner: str = "ana", limit: float | None = None) -> BackgroundRun:
        run = BackgroundRun(
            id=f"run-{len(self.stored)}-{owner}",
            created_at=StillClock().now(),
            strategy="stuck_plugin",
            bars=100,
            owner=owner,
            shared=False,
            time_limit_s=limit,
        )

        async def finish(result: Any) -> Any:
            self.stored.append(result)
            return result

        return self.background.start(run, finish, compute, "prepared")

    def canceller(self, background: BackgroundBacktests | None) -> CancelBacktest:
        trail = AuditTrail(self.audit, StillClock())
        return CancelBacktest(runs=self.runs, audit=trail, background=background)


async def _world(executor: Executor) -> World:
    runs, audit = MemoryRunStore(), MemoryAuditLog()
    background = BackgroundBacktests(
        runs=runs, executor=executor, clock=StillClock(), audit=audit, poll_s=0.05
    )
    return World(runs, audit, executor, background, [])


@pytest.fixture
async def processes() -> AsyncIterator[World]:
    world = await _world(LocalProcessExecutor(workers=1))
    try:
        yield world
    finally:
        await world.background.close()


async def _until(check: Any, seconds: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_the_owner_cancels_a_run_stuck_in_one_call_and_its_worker_is_replaced(
    processes: World,
) -> None:
    run = processes.run(spin)
    await _until(lambda: run.status == "running")
    cancel = processes.canceller(processes.background)
    with pytest.raises(Forbidden):
        await cancel.execute(run.id, actor=user("bob"))
    ended = await cancel.execute(run.id, actor=user("ana"))
    assert ended is run
    assert run.status == "cancelled"
    failure = await processes.runs.failure(run.id)
    assert (failure.status, failure.error) == ("cancelled", "cancelled by ana")
    with pytest.raises(Conflict, match="cancelled already"):
        await cancel.execute(run.id, actor=user("ana"))
    assert await processes.executor.submit(add, 1, 2).result() == 3  # a fresh worker
    entries = await processes.audit.query(AuditQuery(action="backtests.cancel"))
    assert [(e.event.actor, e.event.target) for e in entries] == [
        ("user:ana", f"backtest:{run.id}")
    ]
    assert processes.stored == []


async def test_a_cancel_asked_in_another_process_stops_the_run_where_it_computes(
    processes: World,
) -> None:
    run = processes.run(spin)
    await _until(lambda: run.status == "running")
    elsewhere = processes.canceller(None)  # the CLI: no background runs of its own
    assert await elsewhere.execute(run.id, actor=user("bob")) is None  # not bob's: ignored
    await asyncio.sleep(0.3)
    assert run.status == "running"
    assert await elsewhere.execute(run.id, actor=user("boss", Role.ADMIN)) is None
    await _until(lambda: run.done)
    failure = await processes.runs.failure(run.id)
    assert (failure.status, failure.error) == ("cancelled", "cancelled by boss")
    with pytest.raises(Conflict, match="is cancelled already"):
        await elsewhere.execute(run.id, actor=user("boss", Role.ADMIN))


async def test_the_time_limit_ends_a_worker_stuck_in_one_plugin_call(processes: World) -> None:
    run = processes.run(spin, limit=0.2)
    await _until(lambda: run.done)
    failure = await processes.runs.failure(run.id)
    assert failure.status == "failed"
    assert "stuck_plugin was stopped" in failure.error
    assert "time limit of 0.2 s" in failure.error
    with pytest.raises(StrategyFailed, match="time limit of 0.2 s"):
        await processes.background.compute_now(spin, "x", strategy="p", time_limit_s=0.2)
    assert await processes.executor.submit(add, 2, 2).result() == 4


async def test_on_threads_a_cancelled_run_ends_at_once_and_its_result_is_dropped() -> None:
    world = await _world(InProcessExecutor(workers=1))
    try:
        run = world.run(slow_result)
        await _until(lambda: run.status == "running")
        await world.canceller(world.background).execute(run.id, actor=user("ana"))
        assert run.status == "cancelled"  # a thread cannot be stopped: recorded at once
        await asyncio.sleep(1.0)  # the call finishes meanwhile
        assert world.stored == []  # ... and is not stored
        assert (await world.runs.failure(run.id)).status == "cancelled"
    finally:
        await world.background.close()


def test_a_cancelled_run_is_not_a_failure_for_the_alerts() -> None:
    from arbx.adapters.telemetry.noop import NoTelemetry
    from arbx.app.observations import Observations
    from arbx.ports.run_store import RunFailure

    obs = Observations(NoTelemetry(), StillClock())
    base = RunFailure(id="r1", created_at=StillClock().now(), strategy="s", bars=1, error="boom")
    obs.backtest_failed((base,), {}, None)
    cancelled = RunFailure(
        id="r2",
        created_at=StillClock().now(),
        strategy="s",
        bars=1,
        error="cancelled by ana",
        status="cancelled",
    )
    obs.backtest_failed((cancelled,), {}, None)
    assert [e.detail for e in obs.events_after(0)] == ["run r1: boom"]


async def test_shutting_down_does_not_wait_for_a_run_stuck_in_one_call() -> None:
    world = await _world(LocalProcessExecutor(workers=1))
    run = world.run(spin)
    await _until(lambda: run.status == "running")
    await asyncio.wait_for(world.background.close(), 30)
    failure = await world.runs.failure(run.id)
    assert (failure.status, failure.error.split(":")[0]) == ("failed", "interrupted")
