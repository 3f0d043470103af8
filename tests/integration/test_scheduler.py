"""The scheduler in the serving process: APScheduler 3 runner + RunJob + real stores.

Most tests drive firings through the runner's ``fire`` seam with a fake clock (APScheduler
itself reads the wall clock); a few small real-time tests use sub-second intervals.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.job_store import MemoryJobStore
from arbx.adapters.scheduling import ApschedulerJobRunner
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.adapters.sqlite.job_store import SqliteJobStore
from arbx.adapters.system_clock import SystemClock
from arbx.app.run_job import RunJob
from arbx.domain.errors import ExchangeUnavailable
from arbx.domain.jobs import (
    JobDefinition,
    JobKind,
    JobOrigin,
    JobSpec,
    RunStatus,
    RunTrigger,
)
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.entrypoints.settings import SchedulerSettings
from arbx.ports.clock import Clock
from arbx.ports.job_store import JobStore
from tests.unit.jobs.fakes import FakeClock, FakeCollector, RecordingSleep

BTC = SeriesKey.parse("binance:BTC/USDC:1m")


def definition(job_id: str = "j1", clock: Clock | None = None, **spec: object) -> JobDefinition:
    values: dict[str, object] = {
        "name": job_id,
        "kind": "collect",
        "series": [str(BTC)],
        "interval_s": 60,
        "lookback_bars": 30,
        "max_attempts": 1,
    }
    values.update(spec)
    return JobDefinition.from_spec(
        msgspec.convert(values, JobSpec),
        id=job_id,
        origin=JobOrigin.API,
        created_at=(clock or SystemClock()).now(),
    )


class Rig:
    """A runner wired to RunJob over the given job store, a memory bar store, a fake clock."""

    def __init__(
        self,
        jobs: JobStore,
        clock: Clock | None = None,
        *,
        reconcile_s: float | None = 30.0,
        **work: object,
    ) -> None:
        self.jobs = jobs
        self.clock = clock or FakeClock()
        self.bars = MemoryBarStore()
        self.collector = FakeCollector(self.bars, page_bars=10)
        kinds: dict[JobKind, object] = {JobKind.COLLECT: self.collector}
        kinds.update({JobKind(k): w for k, w in work.items()})
        self.run_job = RunJob(
            jobs=jobs,
            bars=self.bars,
            clock=self.clock,
            work=kinds,  # type: ignore[arg-type]
            sleep=RecordingSleep(),
        )
        self.runner = ApschedulerJobRunner(
            jobs=jobs,
            execute=self.run_job.execute,
            clock=self.clock,
            misfire_grace_s=5,
            shutdown_grace_s=SchedulerSettings().shutdown_grace_s,
            reconcile_s=reconcile_s,
        )

    async def add(self, job: JobDefinition) -> JobDefinition:
        await self.jobs.save(job)
        self.runner.schedule(job)
        return job


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    rig = Rig(MemoryJobStore())
    await rig.runner.start()
    yield rig
    await rig.runner.stop(grace_s=0)


async def test_jobs_fire_and_record_runs(rig: Rig) -> None:
    assert isinstance(rig.clock, FakeClock)
    await rig.add(definition(clock=rig.clock))
    assert await rig.runner.fire("j1")
    rig.clock.advance(minutes=3)
    assert await rig.runner.fire("j1")
    runs = await rig.jobs.list_runs("j1")
    assert [(r.status, r.bars_written, r.trigger) for r in runs] == [
        (RunStatus.SUCCEEDED, 3, RunTrigger.SCHEDULE),
        (RunStatus.SUCCEEDED, 30, RunTrigger.SCHEDULE),
    ]
    assert len(await rig.bars.read(BTC, TimeSpan.everything())) == 33
    assert not rig.runner.is_running("j1")


async def test_a_job_never_overlaps_itself(rig: Rig) -> None:
    await rig.add(definition(clock=rig.clock))
    rig.collector.gate = asyncio.Event()
    first = asyncio.create_task(rig.runner.fire("j1"))
    await rig.collector.entered.wait()
    assert rig.runner.is_running("j1")
    assert await rig.runner.fire("j1") is False  # a scheduled firing is skipped
    assert rig.runner.trigger("j1") is False  # so is run-now
    rig.collector.gate.set()
    assert await first is True
    assert rig.collector.max_active == 1
    assert len(await rig.jobs.list_runs("j1")) == 1
    assert isinstance(rig.clock, FakeClock)
    rig.clock.advance(seconds=1)
    assert rig.runner.trigger("j1") is True  # free again: runs in the background
    assert rig.runner.is_running("j1")
    await rig.runner.join("j1")
    assert not rig.runner.is_running("j1")
    (latest, _) = await rig.jobs.list_runs("j1")
    assert latest.trigger is RunTrigger.MANUAL


async def test_different_jobs_run_side_by_side(rig: Rig) -> None:
    await rig.add(definition("a", clock=rig.clock))
    await rig.add(definition("b", clock=rig.clock, series=["kraken:BTC/USDC:1m"]))
    rig.collector.gate = asyncio.Event()
    tasks = [asyncio.create_task(rig.runner.fire(name)) for name in ("a", "b")]
    await asyncio.wait_for(rig.collector.wait_active(2), timeout=5)
    rig.collector.gate.set()
    assert await asyncio.gather(*tasks) == [True, True]


async def test_the_runner_survives_failing_runs(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    await rig.add(definition(clock=rig.clock))
    rig.collector.failures = [ExchangeUnavailable("binance is down", venue="binance")]
    with caplog.at_level(logging.ERROR):
        assert await rig.runner.fire("j1")
    assert any("failed after 1 attempt" in r.getMessage() for r in caplog.records)
    # an executor that raises (the job vanished from the store) is logged, not fatal
    await rig.jobs.delete("j1")
    with caplog.at_level(logging.ERROR):
        assert await rig.runner.fire("j1")
    assert any("could not run" in r.getMessage() for r in caplog.records)
    await rig.add(definition(clock=rig.clock))
    assert await rig.runner.fire("j1")
    (run,) = await rig.jobs.list_runs("j1")
    assert (run.status, run.bars_written) == (RunStatus.SUCCEEDED, 30)


async def test_runtime_schedule_pause_resume_and_remove(rig: Rig) -> None:
    job = await rig.add(definition(clock=rig.clock))
    first = rig.runner.next_run_at("j1")
    assert first is not None
    assert first.tzinfo is not None
    rig.runner.schedule(job.with_paused(True, at=job.created_at))
    assert rig.runner.next_run_at("j1") is None
    rig.runner.schedule(job)
    assert rig.runner.next_run_at("j1") is not None
    rig.runner.unschedule("j1")
    rig.runner.unschedule("j1")  # unknown ids are ignored
    assert rig.runner.next_run_at("j1") is None
    cron = definition("c", clock=rig.clock, interval_s=None, cron="0 3 * * mon")
    await rig.add(cron)
    nxt = rig.runner.next_run_at("c")
    assert nxt is not None
    assert (nxt.weekday(), nxt.hour, nxt.minute, nxt.second) == (0, 3, 0, 0)


async def test_changes_made_by_another_process_are_picked_up(rig: Rig) -> None:
    job = definition("cli-made", clock=rig.clock)
    await rig.jobs.save(job)  # e.g. `arbx jobs create` wrote it; the server was not told
    assert rig.runner.next_run_at(job.id) is None
    assert await rig.runner.sync_from_store() == 1
    first = rig.runner.next_run_at(job.id)
    assert first is not None
    assert await rig.runner.sync_from_store() == 0  # unchanged: the schedule is left alone
    assert rig.runner.next_run_at(job.id) == first
    await rig.jobs.update(job.with_paused(True, at=job.created_at))
    assert await rig.runner.sync_from_store() == 1
    assert rig.runner.next_run_at(job.id) is None
    await rig.jobs.delete(job.id)
    assert await rig.runner.sync_from_store() == 1
    assert rig.runner.next_run_at(job.id) is None
    assert await rig.runner.sync_from_store() == 0


async def test_stop_cancels_a_run_after_the_grace_without_partial_writes() -> None:
    rig = Rig(MemoryJobStore())
    await rig.runner.start()
    await rig.add(definition(clock=rig.clock))
    rig.collector.gate = asyncio.Event()
    rig.collector.gate.set()
    task = asyncio.create_task(rig.runner.fire("j1"))
    await rig.collector.page_done.wait()
    rig.collector.gate.clear()  # the run now waits before its second page
    await rig.runner.stop(grace_s=0.05)
    (run,) = await rig.jobs.list_runs("j1")
    assert run.status is RunStatus.CANCELLED
    assert run.finished_at is not None
    stored = len(await rig.bars.read(BTC, TimeSpan.everything()))
    assert stored == 10  # whole pages only
    assert await rig.runner.fire("j1") is False  # stopped: nothing starts
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_stop_lets_a_run_finish_within_the_grace() -> None:
    rig = Rig(MemoryJobStore())
    await rig.runner.start()
    await rig.add(definition(clock=rig.clock))
    rig.collector.gate = asyncio.Event()
    task = asyncio.create_task(rig.runner.fire("j1"))
    await rig.collector.entered.wait()
    asyncio.get_running_loop().call_later(0.05, rig.collector.gate.set)
    await rig.runner.stop(grace_s=5)
    assert await task is True
    (run,) = await rig.jobs.list_runs("j1")
    assert (run.status, run.bars_written) == (RunStatus.SUCCEEDED, 30)


async def test_a_restart_marks_interrupted_runs_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "arbx.sqlite"
    async with SqliteDatabase(path) as first_db:
        before = Rig(SqliteJobStore(first_db))
        await before.runner.start()
        await before.add(definition(clock=before.clock))
        before.collector.gate = asyncio.Event()
        crashed = asyncio.create_task(before.runner.fire("j1"))
        await before.collector.entered.wait()
        # The process "dies" here: its run stays marked running in the file.
        async with SqliteDatabase(path) as second_db:
            after = Rig(SqliteJobStore(second_db), clock=before.clock)
            assert await after.runner.start() == 1
            (stale,) = await after.jobs.list_runs("j1")
            assert stale.status is RunStatus.CANCELLED
            assert stale.error is not None
            assert "interrupted" in stale.error
            assert after.runner.next_run_at("j1") is not None
            assert isinstance(after.clock, FakeClock)
            after.clock.advance(minutes=1)
            assert await after.runner.fire("j1")
            runs = await after.jobs.list_runs("j1")
            assert [r.status for r in runs] == [RunStatus.SUCCEEDED, RunStatus.CANCELLED]
            await after.runner.stop(grace_s=0)
        before.collector.gate.set()  # the old run cannot overwrite the interrupted record
        await crashed
        assert (await before.jobs.get_run(stale.id)).status is RunStatus.CANCELLED
        await before.runner.stop(grace_s=0)
        assert not [r for r in await before.jobs.list_runs() if r.is_running]


# -- real time ----------------------------------------------------------------------------


class SlowWork:
    """Validate-kind work that takes ``seconds`` and records when it ran."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.spans: list[tuple[float, float]] = []

    async def __call__(self, job: JobDefinition, key: SeriesKey, span: TimeSpan) -> int:
        began = time.monotonic()
        await asyncio.sleep(self.seconds)
        self.spans.append((began, time.monotonic()))
        return 0


async def test_real_time_firing_never_overlaps_and_stops_cleanly() -> None:
    work = SlowWork(0.15)
    rig = Rig(MemoryJobStore(), clock=SystemClock(), validate=work)
    await rig.jobs.save(definition("v", kind="validate", interval_s=0.1, lookback_bars=5))
    assert await rig.runner.start() == 1
    await asyncio.sleep(0.8)
    await rig.runner.stop(grace_s=1)
    assert len(work.spans) >= 2
    for (_, end), (start, _) in zip(work.spans, work.spans[1:], strict=False):
        assert start >= end  # one at a time
    runs = await rig.jobs.list_runs("v")
    assert all(not r.is_running for r in runs)
    assert {r.status for r in runs} <= {RunStatus.SUCCEEDED, RunStatus.CANCELLED}
    assert sum(r.status is RunStatus.SUCCEEDED for r in runs) >= 2


async def test_real_time_misfires_are_coalesced_into_one_run() -> None:
    work = SlowWork(0)
    rig = Rig(MemoryJobStore(), clock=SystemClock(), validate=work)
    await rig.jobs.save(definition("v", kind="validate", interval_s=0.3, lookback_bars=5))
    await rig.runner.start()
    await asyncio.sleep(0.4)
    fired = len(work.spans)
    time.sleep(1.25)  # the loop is blocked: four firings are missed
    await asyncio.sleep(0.1)
    caught_up = len(work.spans) - fired
    await rig.runner.stop(grace_s=1)
    assert fired >= 1
    assert 1 <= caught_up <= 2  # coalesced: one catch-up run (plus maybe the next tick)


async def test_paused_jobs_do_not_fire_in_real_time() -> None:
    work = SlowWork(0)
    rig = Rig(MemoryJobStore(), clock=SystemClock(), validate=work)
    job = definition("v", kind="validate", interval_s=0.1, lookback_bars=5, paused=True)
    await rig.jobs.save(job)
    assert await rig.runner.start() == 0
    await asyncio.sleep(0.3)
    assert work.spans == []
    rig.runner.schedule(job.with_paused(False, at=datetime.now(UTC)))
    await asyncio.sleep(0.3)
    await rig.runner.stop(grace_s=1)
    assert len(work.spans) >= 1


async def test_the_running_scheduler_reconciles_with_the_store() -> None:
    work = SlowWork(0)
    rig = Rig(MemoryJobStore(), clock=SystemClock(), reconcile_s=0.1, validate=work)
    assert await rig.runner.start() == 0
    await rig.jobs.save(definition("v", kind="validate", interval_s=0.1, lookback_bars=5))
    await asyncio.sleep(0.5)
    await rig.runner.stop(grace_s=1)
    assert len(work.spans) >= 1


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock()
    before = clock.now()
    clock.advance(minutes=1)
    assert clock.now() - before == timedelta(minutes=1)
