"""Job management use cases against the memory store and a recording scheduler."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.job_store import MemoryJobStore
from arbx.app.manage_jobs import (
    CreateJob,
    DeleteJob,
    GetJob,
    ListJobRuns,
    ListJobs,
    PauseJob,
    ResumeJob,
    RunJobNow,
    SyncConfigJobs,
    UpdateJob,
)
from arbx.app.run_job import RunJob
from arbx.domain.errors import Conflict, InvalidInput, NotFound
from arbx.domain.jobs import (
    IntervalSchedule,
    JobKind,
    JobOrigin,
    JobPatch,
    JobRun,
    JobSpec,
    RunStatus,
    RunTrigger,
)
from tests.unit.jobs.fakes import FakeClock, FakeCollector, FakeScheduler


def spec(**overrides: object) -> JobSpec:
    values: dict[str, object] = {
        "name": "collect-btc",
        "kind": "collect",
        "series": ["binance:BTC/USDC:1m"],
        "interval_s": 60,
        "lookback_bars": 5,
    }
    values.update(overrides)
    return msgspec.convert(values, JobSpec)


class Jobs:
    def __init__(self, *, with_scheduler: bool = True) -> None:
        self.clock = FakeClock()
        self.store = MemoryJobStore()
        self.bars = MemoryBarStore()
        self.scheduler = FakeScheduler() if with_scheduler else None
        ids = (f"id{i}" for i in itertools.count(1))
        deps = {"jobs": self.store, "clock": self.clock, "scheduler": self.scheduler}
        self.collector = FakeCollector(self.bars)
        self.run_job = RunJob(
            jobs=self.store,
            bars=self.bars,
            clock=self.clock,
            work={JobKind.COLLECT: self.collector},
        )
        kinds = self.run_job.supported_kinds
        self.create = CreateJob(**deps, supported_kinds=kinds, new_id=lambda: next(ids))
        self.list = ListJobs(**deps)
        self.get = GetJob(**deps)
        self.update = UpdateJob(**deps, supported_kinds=kinds)
        self.delete = DeleteJob(**deps)
        self.pause = PauseJob(**deps)
        self.resume = ResumeJob(**deps)
        self.run_now = RunJobNow(**deps, run_job=self.run_job)
        self.runs = ListJobRuns(**deps)
        self.sync = SyncConfigJobs(**deps)


async def test_create_stores_and_schedules() -> None:
    j = Jobs()
    job = await j.create.execute(spec())
    assert job.id == "id1"
    assert job.origin is JobOrigin.API
    assert await j.store.get("id1") == job
    assert j.scheduler is not None
    assert j.scheduler.scheduled["id1"] == job


async def test_create_refuses_bad_input_and_unsupported_kinds_storing_nothing() -> None:
    j = Jobs()
    with pytest.raises(InvalidInput) as caught:
        await j.create.execute(spec(interval_s=0))
    assert caught.value.field == "interval_s"
    with pytest.raises(InvalidInput, match="validate jobs are not available") as caught:
        await j.create.execute(spec(kind="validate"))
    assert caught.value.field == "kind"
    await j.create.execute(spec())
    with pytest.raises(Conflict):
        await j.create.execute(spec())
    assert len(await j.store.list()) == 1


async def test_list_and_get_show_schedule_state_and_last_run() -> None:
    j = Jobs()
    job = await j.create.execute(spec())
    (view,) = await j.list.execute()
    assert (view.job, view.running, view.last_run) == (job, False, None)
    assert view.next_run_at is not None
    run = await j.run_job.execute(job.id)
    view = await j.get.execute(job.id)
    assert view.last_run == run
    with pytest.raises(NotFound):
        await j.get.execute("nope")


async def test_update_applies_a_patch_and_reschedules() -> None:
    j = Jobs()
    job = await j.create.execute(spec())
    j.clock.advance(minutes=1)
    changed = await j.update.execute(job.id, JobPatch(interval_s=300, name="renamed"))
    assert changed.schedule == IntervalSchedule(300.0)
    assert changed.updated_at == j.clock.now()
    assert await j.store.get(job.id) == changed
    assert j.scheduler is not None
    assert j.scheduler.scheduled[job.id] == changed
    with pytest.raises(InvalidInput):
        await j.update.execute(job.id, JobPatch(lookback_bars=0))
    assert await j.store.get(job.id) == changed


async def test_pause_and_resume_are_idempotent_and_reach_the_scheduler() -> None:
    j = Jobs()
    job = await j.create.execute(spec())
    paused = await j.pause.execute(job.id)
    assert paused.paused
    assert (await j.pause.execute(job.id)) == paused
    assert (await j.get.execute(job.id)).next_run_at is None
    resumed = await j.resume.execute(job.id)
    assert not resumed.paused
    assert (await j.get.execute(job.id)).next_run_at is not None


async def test_delete_unschedules_and_refuses_a_running_job() -> None:
    j = Jobs()
    job = await j.create.execute(spec())
    assert j.scheduler is not None
    j.scheduler.running.add(job.id)
    with pytest.raises(Conflict, match="running"):
        await j.delete.execute(job.id)
    j.scheduler.running.clear()
    await j.delete.execute(job.id)
    assert job.id not in j.scheduler.scheduled
    with pytest.raises(NotFound):
        await j.delete.execute(job.id)


async def test_run_now_triggers_in_the_background_or_conflicts_when_running() -> None:
    j = Jobs()
    job = await j.create.execute(spec())
    await j.pause.execute(job.id)
    assert await j.run_now.execute(job.id) is None
    assert j.scheduler is not None
    assert j.scheduler.triggered == [job.id]
    j.scheduler.running.add(job.id)
    with pytest.raises(Conflict, match="running already"):
        await j.run_now.execute(job.id)
    with pytest.raises(NotFound):
        await j.run_now.execute("nope")


async def test_run_now_without_a_scheduler_runs_inline() -> None:
    j = Jobs(with_scheduler=False)
    job = await j.create.execute(spec())
    run = await j.run_now.execute(job.id)
    assert run is not None
    assert (run.status, run.trigger, run.bars_written) == (
        RunStatus.SUCCEEDED,
        RunTrigger.MANUAL,
        5,
    )
    assert await j.runs.execute(job.id) == [run]
    j.clock.advance(minutes=1)
    await j.store.start_run(
        JobRun(
            id="elsewhere",
            job_id=job.id,
            attempt=1,
            trigger=RunTrigger.SCHEDULE,
            started_at=j.clock.now(),
        )
    )
    with pytest.raises(Conflict, match="in progress"):
        await j.run_now.execute(job.id)


async def test_list_runs_checks_the_job_and_the_limit() -> None:
    j = Jobs()
    job = await j.create.execute(spec())
    for _ in range(3):
        await j.run_job.execute(job.id)
        j.clock.advance(minutes=1)
    assert len(await j.runs.execute(job.id, limit=2)) == 2
    with pytest.raises(InvalidInput):
        await j.runs.execute(job.id, limit=0)
    with pytest.raises(NotFound):
        await j.runs.execute("nope")


async def test_config_sync_adds_updates_keeps_pause_and_removes() -> None:
    j = Jobs()
    first = await j.sync.execute([spec(name="a"), spec(name="b", interval_s=120)])
    assert [job.id for job in first] == ["config-a", "config-b"]
    assert all(job.origin is JobOrigin.CONFIG for job in first)
    await j.pause.execute("config-a")
    j.clock.advance(hours=1)
    second = await j.sync.execute([spec(name="a", lookback_bars=9), spec(name="c")])
    assert [job.id for job in second] == ["config-a", "config-c"]
    a = await j.store.get("config-a")
    assert (a.lookback_bars, a.paused, a.created_at) == (9, True, first[0].created_at)
    with pytest.raises(NotFound):
        await j.store.get("config-b")
    assert j.scheduler is not None
    assert set(j.scheduler.scheduled) == {"config-a", "config-c"}
    unchanged = await j.sync.execute([spec(name="a", lookback_bars=9), spec(name="c")])
    assert unchanged == [*second[:1], await j.store.get("config-c")]
    assert unchanged[0].updated_at == a.updated_at


async def test_config_jobs_cannot_be_edited_or_deleted_through_the_api_but_can_be_paused() -> None:
    j = Jobs()
    await j.sync.execute([spec(name="a")])
    with pytest.raises(Conflict, match="config"):
        await j.update.execute("config-a", JobPatch(interval_s=5))
    with pytest.raises(Conflict, match="config"):
        await j.delete.execute("config-a")
    assert (await j.update.execute("config-a", JobPatch(paused=True))).paused


async def test_config_sync_names_the_bad_entry() -> None:
    j = Jobs()
    with pytest.raises(InvalidInput, match=r"scheduler.jobs\[1\]") as caught:
        await j.sync.execute([spec(name="a"), spec(name="b", cron="* * * * *")])
    assert caught.value.field == "scheduler.jobs.schedule"
    with pytest.raises(InvalidInput, match="twice"):
        await j.sync.execute([spec(name="a"), spec(name="a")])
    assert await j.store.list() == []
