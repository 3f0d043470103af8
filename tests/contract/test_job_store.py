"""The JobStore contract, written once and run against every adapter (memory, sqlite,
postgres).

Tests use only the port's methods.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from arbx.adapters.memory.job_store import MemoryJobStore
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.adapters.sqlite.job_store import SqliteJobStore
from arbx.domain.errors import Conflict, NotFound
from arbx.domain.jobs import (
    JobDefinition,
    JobOrigin,
    JobPatch,
    JobRun,
    JobSpec,
    RunStatus,
    RunTrigger,
)
from arbx.ports.job_store import JobStore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def memory_job_store() -> JobStore:
    return MemoryJobStore()


@pytest.fixture
async def sqlite_job_store(tmp_path: Path) -> AsyncIterator[JobStore]:
    async with SqliteDatabase(tmp_path / "arbx.sqlite") as database:
        yield SqliteJobStore(database)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def jobs(request: pytest.FixtureRequest) -> JobStore:
    store: JobStore = request.getfixturevalue(f"{request.param}_job_store")
    return store


def job(
    job_id: str = "j1", name: str = "collect-btc", *, at: datetime = T0, **spec: object
) -> JobDefinition:
    values: dict[str, object] = {
        "name": name,
        "kind": "collect",
        "series": ["binance:BTC/USDC:1m"],
        "interval_s": 60,
    }
    values.update(spec)
    return JobDefinition.from_spec(
        msgspec.convert(values, JobSpec), id=job_id, origin=JobOrigin.API, created_at=at
    )


def run(run_id: str, job_id: str = "j1", *, at: datetime = T0, attempt: int = 1) -> JobRun:
    return JobRun(
        id=run_id, job_id=job_id, attempt=attempt, trigger=RunTrigger.SCHEDULE, started_at=at
    )


async def test_save_get_and_list_oldest_first(jobs: JobStore) -> None:
    later = job(
        "j2",
        "validate-btc",
        at=T0 + timedelta(minutes=1),
        kind="validate",
        interval_s=None,
        cron="0 2 * * *",
    )
    await jobs.save(later)
    first = job(
        "j1",
        markets={"exchanges": ["kraken"], "symbols": ["BTC/USDC"], "timeframes": ["1h"]},
        max_attempts=5,
    )
    await jobs.save(first)
    assert await jobs.get("j1") == first
    assert await jobs.get("j2") == later
    assert await jobs.list() == [first, later]


async def test_taken_id_or_name_conflicts_and_stores_nothing(jobs: JobStore) -> None:
    await jobs.save(job("j1", "a"))
    with pytest.raises(Conflict):
        await jobs.save(job("j1", "b"))
    with pytest.raises(Conflict, match="name"):
        await jobs.save(job("j2", "a"))
    assert [j.id for j in await jobs.list()] == ["j1"]
    assert (await jobs.get("j1")).name == "a"


async def test_unknown_ids_are_not_found(jobs: JobStore) -> None:
    with pytest.raises(NotFound):
        await jobs.get("nope")
    with pytest.raises(NotFound):
        await jobs.update(job("nope"))
    with pytest.raises(NotFound):
        await jobs.delete("nope")
    with pytest.raises(NotFound):
        await jobs.start_run(run("r1", "nope"))
    with pytest.raises(NotFound):
        await jobs.get_run("nope")
    with pytest.raises(NotFound):
        await jobs.finish_run(run("nope").finish(RunStatus.SUCCEEDED, at=T0))


async def test_update_replaces_and_refuses_a_taken_name(jobs: JobStore) -> None:
    original = job("j1", "a")
    await jobs.save(original)
    await jobs.save(job("j2", "b"))
    changed = original.apply(
        JobPatch(name="a2", cron="*/5 * * * *", paused=True), at=T0 + timedelta(hours=1)
    )
    await jobs.update(changed)
    assert await jobs.get("j1") == changed
    with pytest.raises(Conflict, match="name"):
        await jobs.update(changed.apply(JobPatch(name="b"), at=T0 + timedelta(hours=2)))
    assert await jobs.get("j1") == changed


async def test_delete_removes_the_job_and_its_runs(jobs: JobStore) -> None:
    await jobs.save(job("j1", "a"))
    await jobs.save(job("j2", "b"))
    await jobs.start_run(run("r1", "j1"))
    await jobs.start_run(run("r2", "j2"))
    await jobs.delete("j1")
    with pytest.raises(NotFound):
        await jobs.get("j1")
    with pytest.raises(NotFound):
        await jobs.get_run("r1")
    assert [r.id for r in await jobs.list_runs()] == ["r2"]


async def test_a_run_starts_running_and_finishes_once(jobs: JobStore) -> None:
    await jobs.save(job())
    started = run("r1")
    await jobs.start_run(started)
    assert await jobs.get_run("r1") == started
    with pytest.raises(Conflict):
        await jobs.start_run(run("r1"))
    done = started.finish(
        RunStatus.FAILED, at=T0 + timedelta(seconds=90), bars_written=7, error="venue down"
    )
    assert await jobs.finish_run(done) == done
    assert await jobs.get_run("r1") == done
    with pytest.raises(Conflict, match="finished already"):
        await jobs.finish_run(started.finish(RunStatus.SUCCEEDED, at=T0))
    assert await jobs.get_run("r1") == done


async def test_runs_list_newest_first_per_job_and_limited(jobs: JobStore) -> None:
    await jobs.save(job("j1", "a"))
    await jobs.save(job("j2", "b"))
    for i in range(5):
        await jobs.start_run(
            run(f"r{i}", "j1" if i % 2 == 0 else "j2", at=T0 + timedelta(minutes=i))
        )
    assert [r.id for r in await jobs.list_runs("j1")] == ["r4", "r2", "r0"]
    assert [r.id for r in await jobs.list_runs()] == ["r4", "r3", "r2", "r1", "r0"]
    assert [r.id for r in await jobs.list_runs(limit=2)] == ["r4", "r3"]
    assert await jobs.list_runs("j1", limit=0) == []
    assert await jobs.list_runs("unknown") == []


async def test_interrupted_runs_are_marked_cancelled(jobs: JobStore) -> None:
    await jobs.save(job())
    await jobs.start_run(run("r1", at=T0))
    await jobs.start_run(run("r2", at=T0 + timedelta(minutes=1)))
    finished = run("r3", at=T0).finish(RunStatus.SUCCEEDED, at=T0 + timedelta(seconds=5))
    await jobs.start_run(run("r3", at=T0))
    await jobs.finish_run(finished)
    crash = T0 + timedelta(minutes=5)
    assert await jobs.mark_interrupted_runs(crash) == 2
    for run_id in ("r1", "r2"):
        marked = await jobs.get_run(run_id)
        assert marked.status is RunStatus.CANCELLED
        assert marked.finished_at == crash
        assert marked.error is not None
        assert "interrupted" in marked.error
    assert await jobs.get_run("r3") == finished
    assert await jobs.mark_interrupted_runs(crash) == 0


async def test_times_keep_microseconds_and_utc(jobs: JobStore) -> None:
    at = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    await jobs.save(job(at=at))
    await jobs.start_run(run("r1", at=at))
    assert (await jobs.get("j1")).created_at == at
    assert (await jobs.get_run("r1")).started_at == at


async def test_an_evaluate_job_round_trips(jobs: JobStore) -> None:
    evaluate = job("j9", "evaluate-btc-sma", kind="evaluate", series=[], strategy="btc-sma")
    await jobs.save(evaluate)
    assert await jobs.get("j9") == evaluate
    assert (await jobs.get("j9")).strategy == "btc-sma"
    await jobs.start_run(run("r9", "j9"))
    assert [r.id for r in await jobs.list_runs("j9")] == ["r9"]
