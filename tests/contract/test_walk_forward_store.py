"""The WalkForwardStore contract, run against every adapter (memory, sqlite, postgres)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.memory.walk_forward_store import MemoryWalkForwardStore
from arbx.adapters.postgres.walk_forward_store import PostgresWalkForwardStore
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.adapters.sqlite.walk_forward_store import SqliteWalkForwardStore
from arbx.domain.backtest.run import SeriesUsed
from arbx.domain.errors import Conflict, NotFound
from arbx.domain.research.holder import Holder
from arbx.domain.research.objective import Objective, TrialMetrics
from arbx.domain.research.space import parse_space
from arbx.domain.research.walk_forward import (
    FoldOut,
    FoldSpan,
    WalkForwardFold,
    WalkForwardStudy,
    assemble,
)
from arbx.domain.strategies import get_strategy
from arbx.ports.walk_forward_store import WalkForwardStore
from tests.support.postgres import PostgresTestDatabase

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
def memory_walk_forward_store() -> WalkForwardStore:
    return MemoryWalkForwardStore()


@pytest.fixture
async def sqlite_walk_forward_store(tmp_path: Path) -> AsyncIterator[WalkForwardStore]:
    async with SqliteDatabase(tmp_path / "arbx.sqlite") as database:
        yield SqliteWalkForwardStore(database)


@pytest.fixture
async def postgres_walk_forward_store(
    postgres_database: PostgresTestDatabase, postgres_pool: AsyncConnectionPool
) -> WalkForwardStore:
    async with postgres_pool.connection() as conn:
        await conn.execute(
            sql.SQL("TRUNCATE {} CASCADE").format(
                sql.Identifier(postgres_database.schema, "walk_forwards")
            )
        )
    return PostgresWalkForwardStore(postgres_pool, postgres_database.schema)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def wfs(request: pytest.FixtureRequest) -> WalkForwardStore:
    store: WalkForwardStore = request.getfixturevalue(f"{request.param}_walk_forward_store")
    return store


def a_wf(wf_id: str = "w1", *, at: datetime = T0, owner: str | None = None) -> WalkForwardStudy:
    space = parse_space(get_strategy("sma_cross"), {"fast": {"low": 5, "high": 20, "step": 5}})
    return WalkForwardStudy(
        id=wf_id,
        created_at=at,
        strategy="sma_cross",
        strategy_version="my-sma@v3",
        method="grid",
        space=space,
        objective=Objective(metric="sharpe"),
        request={"strategy": "sma_cross", "series": ["binance:BTC/USDC:1m"], "capital": 1e4},
        n_trials=4,
        seed=7,
        mode="rolling",
        train=100,
        test=50,
        step=50,
        purge=0,
        embargo=0,
        folds=[FoldSpan(0, T0, T0 + H, T0 + H, T0 + 2 * H, (0, 100, 100, 150))],
        bar_ms=60_000,
        engine_version="2.0.0",
        series=[SeriesUsed("binance:BTC/USDC:1m", 100, T0, T0 + timedelta(minutes=99))],
        owner=owner,
        updated_at=at,
    )


def a_fold(index: int, wf_id: str = "w1") -> WalkForwardFold:
    out = FoldOut(
        index, T0, T0 + H, T0 + H, T0 + 2 * H, {"fast": 5 + index},
        TrialMetrics(sharpe=1 / 3, total_return=0.1), TrialMetrics(sharpe=-1e-300, total_return=0.05),
        1 / 3, -1e-300, 0.5, 4,
    )  # fmt: skip
    return WalkForwardFold(
        walk_forward_id=wf_id,
        fold=out,
        equity=[10_000.0, 10_000.1 + index, 1e300],
        ts=[1, 2, 3],
        seconds=0.5,
    )


async def test_a_walk_forward_round_trips_and_updates(wfs: WalkForwardStore) -> None:
    wf = a_wf()
    await wfs.create(wf)
    assert await wfs.get("w1") == wf
    done = msgspec.structs.replace(wf, status="done")
    await wfs.update(done)
    assert await wfs.get("w1") == done
    with pytest.raises(Conflict):
        await wfs.create(wf)


async def test_unknown_walk_forwards_are_not_found(wfs: WalkForwardStore) -> None:
    for call in (
        wfs.get("nope"),
        wfs.update(a_wf("nope")),
        wfs.folds("nope"),
        wfs.add_fold(a_fold(0, "nope")),
        wfs.delete("nope"),
        wfs.heartbeat("nope", "t", T0),
        wfs.interrupt(a_wf("nope"), T0, "gone"),
    ):
        with pytest.raises(NotFound):
            await call


async def test_folds_come_back_by_index_exactly_as_stored(wfs: WalkForwardStore) -> None:
    await wfs.create(a_wf())
    for i in (2, 0, 1):
        await wfs.add_fold(a_fold(i))
    assert await wfs.folds("w1") == [a_fold(0), a_fold(1), a_fold(2)]
    with pytest.raises(Conflict):
        await wfs.add_fold(a_fold(1))
    result = assemble(await wfs.get("w1"), await wfs.folds("w1"))
    assert [f.index for f in result.folds] == [0, 1, 2]


async def test_list_is_newest_first_and_filters(wfs: WalkForwardStore) -> None:
    await wfs.create(a_wf("a", at=T0, owner="u1"))
    await wfs.create(a_wf("b", at=T0 + H, owner="u2"))
    await wfs.create(msgspec.structs.replace(a_wf("c", at=T0 + 2 * H), status="done"))
    assert [w.id for w in await wfs.list()] == ["c", "b", "a"]
    assert [w.id for w in await wfs.list(limit=1)] == ["c"]
    assert [w.id for w in await wfs.list(readable_by="u1")] == ["c", "a"]
    assert [w.id for w in await wfs.list(status="running")] == ["b", "a"]


async def test_heartbeat_and_interrupt_are_conditional(wfs: WalkForwardStore) -> None:
    holder = Holder(host="h", pid=3, boot_id="b", token="tok", heartbeat_at=T0)
    await wfs.create(msgspec.structs.replace(a_wf(), holder=holder))
    seen = await wfs.get("w1")
    assert await wfs.heartbeat("w1", "other", T0 + H) is False
    assert await wfs.heartbeat("w1", "tok", T0 + H) is True
    assert await wfs.interrupt(seen, T0 + 2 * H, "gone") is False  # it beat since
    seen = await wfs.get("w1")
    assert await wfs.interrupt(seen, T0 + 2 * H, "gone") is True
    got = await wfs.get("w1")
    assert (got.status, got.error) == ("interrupted", "gone")
    assert await wfs.interrupt(seen, T0 + 2 * H, "again") is False


async def test_delete_removes_it_and_its_folds(wfs: WalkForwardStore) -> None:
    await wfs.create(a_wf())
    await wfs.add_fold(a_fold(0))
    await wfs.delete("w1")
    await wfs.create(a_wf())
    assert await wfs.folds("w1") == []
