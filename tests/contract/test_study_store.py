"""The StudyStore contract, run against every adapter (memory, sqlite, postgres)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.memory.study_store import MemoryStudyStore
from arbx.adapters.postgres.study_store import PostgresStudyStore
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.adapters.sqlite.study_store import SqliteStudyStore
from arbx.domain.backtest.run import SeriesUsed
from arbx.domain.errors import Conflict, NotFound
from arbx.domain.research.holder import Holder
from arbx.domain.research.objective import Objective, TrialMetrics
from arbx.domain.research.space import parse_space
from arbx.domain.research.study import Study, Trial
from arbx.domain.strategies import get_strategy
from arbx.ports.study_store import StudyStore
from tests.support.postgres import PostgresTestDatabase

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def memory_study_store() -> StudyStore:
    return MemoryStudyStore()


@pytest.fixture
async def sqlite_study_store(tmp_path: Path) -> AsyncIterator[StudyStore]:
    async with SqliteDatabase(tmp_path / "arbx.sqlite") as database:
        yield SqliteStudyStore(database)


@pytest.fixture
async def postgres_study_store(
    postgres_database: PostgresTestDatabase, postgres_pool: AsyncConnectionPool
) -> StudyStore:
    async with postgres_pool.connection() as conn:
        await conn.execute(
            sql.SQL("TRUNCATE {} CASCADE").format(
                sql.Identifier(postgres_database.schema, "studies")
            )
        )
    return PostgresStudyStore(postgres_pool, postgres_database.schema)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def studies(request: pytest.FixtureRequest) -> StudyStore:
    store: StudyStore = request.getfixturevalue(f"{request.param}_study_store")
    return store


def a_study(study_id: str = "s1", *, at: datetime = T0, owner: str | None = None) -> Study:
    sma = get_strategy("sma_cross")
    space = parse_space(sma, {"fast": {"low": 5, "high": 20, "step": 5}, "entry": ["cross"]})
    return Study(
        id=study_id,
        created_at=at,
        strategy="sma_cross",
        method="grid",
        space=space,
        objective=Objective(metric="sharpe", min_trades=2),
        request={"strategy": "sma_cross", "series": ["binance:BTC/USDC:1m"], "capital": 1e4},
        n_trials=4,
        seed=7,
        engine_version="2.0.0",
        series=[SeriesUsed("binance:BTC/USDC:1m", 100, T0, T0 + timedelta(minutes=99))],
        owner=owner,
    )


def a_trial(number: int, study_id: str = "s1") -> Trial:
    return Trial(
        study_id=study_id,
        number=number,
        params={"fast": 5 + number, "entry": "cross"},
        seed=1000 + number,
        status="done",
        metrics=TrialMetrics(sharpe=0.1 + 1e-17 * number, total_return=1 / 3, trade_count=5),
        value=0.1 + number / 7,
        returns=[0.1, -1 / 3, 2.5e-300, 1e300],
        seconds=0.25,
    )


async def test_a_study_round_trips_and_updates(studies: StudyStore) -> None:
    study = a_study()
    await studies.create(study)
    assert await studies.get("s1") == study
    done = msgspec.structs.replace(study, status="done", error=None, refused_points=3)
    await studies.update(done)
    assert await studies.get("s1") == done
    with pytest.raises(Conflict):
        await studies.create(study)
    assert await studies.get("s1") == done


async def test_unknown_studies_are_not_found(studies: StudyStore) -> None:
    with pytest.raises(NotFound):
        await studies.get("nope")
    with pytest.raises(NotFound):
        await studies.update(a_study("nope"))
    with pytest.raises(NotFound):
        await studies.trials("nope")
    with pytest.raises(NotFound):
        await studies.add_trial(a_trial(0, "nope"))
    with pytest.raises(NotFound):
        await studies.delete("nope")


async def test_trials_come_back_by_number_exactly_as_stored(studies: StudyStore) -> None:
    await studies.create(a_study())
    for n in (2, 0, 1):
        await studies.add_trial(a_trial(n))
    got = await studies.trials("s1")
    assert [t.number for t in got] == [0, 1, 2]
    assert got == [a_trial(0), a_trial(1), a_trial(2)]
    with pytest.raises(Conflict):
        await studies.add_trial(msgspec.structs.replace(a_trial(1), value=99.0))
    assert (await studies.trials("s1"))[1] == a_trial(1)


async def test_a_promoted_trial_keeps_its_run_id(studies: StudyStore) -> None:
    await studies.create(a_study())
    await studies.add_trial(a_trial(0))
    await studies.set_trial_run("s1", 0, "run-9")
    assert (await studies.trials("s1"))[0] == msgspec.structs.replace(a_trial(0), run_id="run-9")
    with pytest.raises(NotFound):
        await studies.set_trial_run("s1", 5, "run-9")


async def test_list_is_newest_first_and_filters_readers(studies: StudyStore) -> None:
    await studies.create(a_study("a", at=T0, owner="u1"))
    await studies.create(a_study("b", at=T0 + timedelta(hours=1), owner="u2"))
    await studies.create(a_study("c", at=T0 + timedelta(hours=2)))
    await studies.create(a_study("d", at=T0 + timedelta(hours=2), owner="u1"))
    assert [s.id for s in await studies.list()] == ["d", "c", "b", "a"]
    assert [s.id for s in await studies.list(limit=2)] == ["d", "c"]
    assert [s.id for s in await studies.list(readable_by="u1")] == ["d", "c", "a"]
    assert [s.id for s in await studies.list(readable_by="u1", limit=1)] == ["d"]


async def test_delete_removes_the_study_and_its_trials(studies: StudyStore) -> None:
    await studies.create(a_study())
    await studies.add_trial(a_trial(0))
    await studies.delete("s1")
    with pytest.raises(NotFound):
        await studies.trials("s1")
    await studies.create(a_study())  # the id is free again, with no trials
    assert await studies.trials("s1") == []


def held(token: str = "tok-a", beat: datetime = T0) -> Holder:
    return Holder(host="h1", pid=41, boot_id="boot", started=7, token=token, heartbeat_at=beat)


async def test_list_filters_by_status(studies: StudyStore) -> None:
    await studies.create(a_study("a", at=T0))
    await studies.create(msgspec.structs.replace(a_study("b", at=T0), status="done"))
    assert [s.id for s in await studies.list(status="running")] == ["a"]
    assert [s.id for s in await studies.list(status="done")] == ["b"]
    assert await studies.list(status="interrupted") == []


async def test_a_heartbeat_renews_only_the_holders_running_study(studies: StudyStore) -> None:
    study = msgspec.structs.replace(a_study(), holder=held(), updated_at=T0)
    await studies.create(study)
    later = T0 + timedelta(seconds=15, microseconds=250)
    assert await studies.heartbeat("s1", "tok-a", later) is True
    stored = await studies.get("s1")
    assert stored.holder == held(beat=later)
    assert stored == msgspec.structs.replace(study, holder=held(beat=later))
    assert await studies.heartbeat("s1", "tok-other", later + timedelta(seconds=1)) is False
    await studies.update(msgspec.structs.replace(stored, status="done"))
    assert await studies.heartbeat("s1", "tok-a", later + timedelta(seconds=2)) is False
    assert (await studies.get("s1")).holder == held(beat=later)
    with pytest.raises(NotFound):
        await studies.heartbeat("nope", "tok-a", later)


async def test_interrupt_marks_a_study_only_as_it_was_seen(studies: StudyStore) -> None:
    study = msgspec.structs.replace(a_study(), holder=held(), updated_at=T0)
    await studies.create(study)
    seen = await studies.get("s1")
    assert await studies.heartbeat("s1", "tok-a", T0 + timedelta(seconds=5))  # alive after all
    at = T0 + timedelta(minutes=3)
    assert await studies.interrupt(seen, at, "gone") is False
    assert (await studies.get("s1")).status == "running"
    seen = await studies.get("s1")
    assert await studies.interrupt(seen, at, "process 41 on h1 is gone") is True
    got = await studies.get("s1")
    assert (got.status, got.error, got.updated_at) == (
        "interrupted",
        "process 41 on h1 is gone",
        at,
    )
    assert got.holder == seen.holder
    assert await studies.interrupt(seen, at, "twice") is False  # a second server: no change
    assert (await studies.get("s1")).error == "process 41 on h1 is gone"
    with pytest.raises(NotFound):
        await studies.interrupt(a_study("nope"), at, "gone")


async def test_interrupt_of_a_study_without_holder_compares_its_update_time(
    studies: StudyStore,
) -> None:
    await studies.create(msgspec.structs.replace(a_study(), updated_at=T0))
    seen = await studies.get("s1")
    await studies.update(msgspec.structs.replace(seen, updated_at=T0 + timedelta(seconds=1)))
    assert await studies.interrupt(seen, T0 + timedelta(hours=1), "old") is False
    seen = await studies.get("s1")
    assert await studies.interrupt(seen, T0 + timedelta(hours=1), "old") is True
    assert (await studies.get("s1")).status == "interrupted"
