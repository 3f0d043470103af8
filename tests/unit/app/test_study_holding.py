"""Studies left running by a process that is gone are shown interrupted; a live one's are not.

Two ``OptimizeStudies`` on one store stand for two servers on one PostgreSQL (fake probes:
their hosts, pids and liveness are set by the test)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from arbx.adapters.compute.in_process import InProcessExecutor
from arbx.app.optimize import OptimizeStudies, decode_optimization
from arbx.app.run_backtest import CLI_OPERATOR as OP
from arbx.domain.errors import Conflict
from arbx.domain.research.holder import Holder
from arbx.ports.clock import Clock
from arbx.ports.process_probe import ProcessProbe
from tests.unit.app.test_optimize import World, counter, sma


class MovingClock(Clock):
    def __init__(self) -> None:
        self.at = datetime(2025, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


class FakeProbe(ProcessProbe):
    def __init__(self, host: str, pid: int, dead: set[int]) -> None:
        self.host, self.pid, self.dead = host, pid, dead

    def holder(self, at: datetime) -> Holder:
        return Holder(
            host=self.host, pid=self.pid, boot_id=f"boot-{self.host}", started=1,
            token=f"{self.host}-{self.pid}", heartbeat_at=at,
        )  # fmt: skip

    def alive(self, pid: int, started: int) -> bool:
        return pid not in self.dead


def server(w: World, executor: Any, probe: ProcessProbe, clock: Clock) -> OptimizeStudies:
    return OptimizeStudies(
        w.backtests, w.studies, executor, clock, counter(f"{id(probe)}-"), probe=probe,
        lease=timedelta(seconds=60),
    )  # fmt: skip


@pytest.fixture
async def setup() -> Any:
    executor = InProcessExecutor(workers=2)
    w = World(executor)
    await w.load()
    yield w, executor
    await executor.shutdown()


async def test_a_study_of_a_dead_process_on_this_host_is_interrupted_on_read(setup: Any) -> None:
    w, executor = setup
    dead: set[int] = set()
    clock = MovingClock()
    a = server(w, executor, FakeProbe("box", 10, dead), clock)
    b = server(w, executor, FakeProbe("box", 20, dead), clock)
    study = await a.create(decode_optimization(sma()), actor=OP)
    assert study.holder is not None
    assert study.holder.pid == 10
    assert (await b.view(study.id, actor=OP)).study.status == "running"  # 10 lives
    assert await b.recover() == []
    dead.add(10)  # killed before it finished
    view = await b.view(study.id, actor=OP)
    assert view.study.status == "interrupted"
    assert "process 10 on box is gone" in (view.study.error or "")
    resumed = await b.resume(study.id, actor=OP)  # b takes it over and finishes it
    assert resumed.study.status == "done"
    assert resumed.trials_done == study.n_trials
    assert resumed.study.holder is not None
    assert resumed.study.holder.pid == 20


async def test_recover_marks_every_orphaned_study_once(setup: Any) -> None:
    w, executor = setup
    dead: set[int] = set()
    clock = MovingClock()
    a = server(w, executor, FakeProbe("box", 10, dead), clock)
    b = server(w, executor, FakeProbe("box", 20, dead), clock)
    c = server(w, executor, FakeProbe("box", 30, dead), clock)
    s1 = await a.create(decode_optimization(sma()), actor=OP)
    s2 = await a.create(decode_optimization(sma(method="random", trials=3)), actor=OP)
    s3 = await c.create(decode_optimization(sma()), actor=OP)
    dead.add(10)
    marked = await b.recover()
    assert sorted(s.id for s in marked) == sorted([s1.id, s2.id])
    assert await c.recover() == []  # already marked: not twice
    assert (await w.studies.get(s3.id)).status == "running"  # c is alive


async def test_a_live_server_on_another_host_keeps_its_study_while_it_beats(setup: Any) -> None:
    w, executor = setup
    clock = MovingClock()
    a = server(w, executor, FakeProbe("host-a", 10, set()), clock)
    b = server(w, executor, FakeProbe("host-b", 10, {10}), clock)  # pid 10 is dead *on b*
    study = await a.create(decode_optimization(sma()), actor=OP)
    clock.at += timedelta(seconds=50)
    assert await w.studies.heartbeat(study.id, "host-a-10", clock.now())
    clock.at += timedelta(seconds=50)  # 100 s since start, 50 s since the heartbeat
    assert (await b.view(study.id, actor=OP)).study.status == "running"
    with pytest.raises(Conflict, match="running in process 10 on host-a"):
        await b.resume(study.id, actor=OP)
    clock.at += timedelta(seconds=11)  # 61 s without a heartbeat: a lease is gone
    assert [s.id for s in await b.recover()] == [study.id]
    got = await w.studies.get(study.id)
    assert got.status == "interrupted"
    assert "no heartbeat" in (got.error or "")


async def test_running_here_renews_the_heartbeat_and_a_lost_hold_stops_it(setup: Any) -> None:
    w, executor = setup
    clock = MovingClock()
    a = OptimizeStudies(
        w.backtests, w.studies, executor, clock, counter("s"),
        probe=FakeProbe("host-a", 10, set()), lease=timedelta(seconds=0.2),
    )  # fmt: skip
    body = sma(method="random", trials=10_000)
    study = await a.create(decode_optimization(body), actor=OP)
    task = asyncio.ensure_future(a.run(study.id, actor=OP, jobs=1))
    for _ in range(200):
        await asyncio.sleep(0.02)
        clock.at += timedelta(seconds=0.01)
        stored = await w.studies.get(study.id)
        if stored.holder is not None and stored.holder.heartbeat_at > study.created_at:
            break
    assert stored.holder is not None
    assert stored.holder.heartbeat_at > study.created_at
    # another process found it orphaned and took it over: this one stops, leaving it be
    taken = msgspec.structs.replace(
        stored, holder=msgspec.structs.replace(stored.holder, token="someone-else")
    )
    await w.studies.update(taken)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    after = await w.studies.get(study.id)
    assert after.status == "running"
    assert after.holder == taken.holder
