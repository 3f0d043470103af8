"""Migration 0008 on a SQLite file made before it: job rows and their runs survive the
rebuild that lets jobs be of kind 'evaluate', and the catalog tables appear."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import msgspec

from arbx.adapters.sqlite.catalog_store import SqliteCatalogStore
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.adapters.sqlite.job_store import SqliteJobStore
from arbx.domain.jobs import JobDefinition, JobOrigin, JobRun, JobSpec, RunStatus, RunTrigger

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def job(job_id: str, **spec: object) -> JobDefinition:
    values: dict[str, object] = {"name": job_id, "kind": "collect", "interval_s": 60}
    values.update(spec)
    return JobDefinition.from_spec(
        msgspec.convert(values, JobSpec), id=job_id, origin=JobOrigin.API, created_at=T0
    )


async def test_jobs_and_runs_survive_and_evaluate_jobs_fit(tmp_path: Path) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for entry in files("arbx.adapters.sqlite.migrations").iterdir():
        if entry.name.endswith(".sql") and entry.name < "0008":
            (before / entry.name).write_text(entry.read_text())
    path = tmp_path / "arbx.sqlite"
    old = job("collect-btc", series=["binance:BTC/USDC:1m"])
    async with SqliteDatabase(path, migrations=before) as database:
        assert await database.schema_version() == 7
        store = SqliteJobStore(database)
        await store.save(old)
        started = JobRun(
            id="r1", job_id=old.id, attempt=1, trigger=RunTrigger.MANUAL, started_at=T0
        )
        await store.start_run(started)
        await store.finish_run(started.finish(RunStatus.SUCCEEDED, at=T0, bars_written=5))
    async with SqliteDatabase(path) as database:
        assert await database.schema_version() >= 8
        store = SqliteJobStore(database)
        assert await store.get(old.id) == old
        (kept,) = await store.list_runs(old.id)
        assert (kept.id, kept.status, kept.bars_written) == ("r1", RunStatus.SUCCEEDED, 5)
        evaluate = job("evaluate-btc", kind="evaluate", strategy="btc-sma")
        await store.save(evaluate)
        assert await store.get(evaluate.id) == evaluate
        await store.delete(old.id)  # the cascade to runs still works
        assert await store.list_runs(old.id) == []
        assert await SqliteCatalogStore(database).list() == []
