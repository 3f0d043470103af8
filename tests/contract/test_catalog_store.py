"""The CatalogStore contract, written once and run against every adapter (memory, sqlite,
postgres). Tests use only the port's methods."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.memory.catalog_store import MemoryCatalogStore
from arbx.adapters.postgres.catalog_store import PostgresCatalogStore
from arbx.adapters.sqlite.catalog_store import SqliteCatalogStore
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.catalog import (
    DeployState,
    StateChange,
    StrategyDefinition,
    StrategySpec,
    StrategyVersion,
    transition,
)
from arbx.domain.errors import Conflict, NotFound
from arbx.ports.catalog_store import CatalogStore
from tests.support.postgres import PostgresTestDatabase

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def memory_catalog_store() -> CatalogStore:
    return MemoryCatalogStore()


@pytest.fixture
async def sqlite_catalog_store(tmp_path: Path) -> AsyncIterator[CatalogStore]:
    async with SqliteDatabase(tmp_path / "arbx.sqlite") as database:
        yield SqliteCatalogStore(database)


@pytest.fixture
async def postgres_catalog_store(
    postgres_database: PostgresTestDatabase, postgres_pool: AsyncConnectionPool
) -> CatalogStore:
    async with postgres_pool.connection() as conn:
        await conn.execute(
            sql.SQL("TRUNCATE {} CASCADE").format(
                sql.Identifier(postgres_database.schema, "strategy_definitions")
            )
        )
    return PostgresCatalogStore(postgres_pool, postgres_database.schema)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> CatalogStore:
    found: CatalogStore = request.getfixturevalue(f"{request.param}_catalog_store")
    return found


def definition(
    def_id: str = "d1", name: str = "btc-sma", owner: str = "u-alice"
) -> StrategyDefinition:
    return StrategyDefinition(id=def_id, name=name, owner=owner, created_at=T0)


def version(number: int = 1, def_id: str = "d1", **spec: object) -> StrategyVersion:
    values: dict[str, object] = {
        "strategy": "sma_cross",
        "params": {"fast": 10, "slow": 50, "entry": "cross"},
        "series": ["kraken:BTC/USD:1m"],
        "fees": {"kraken": FeeSchedule(maker_bps=25.0, taker_bps=40.0)},
        "notes": "first try",
    }
    values.update(spec)
    return StrategyVersion(
        definition_id=def_id,
        number=number,
        created_at=T0 + timedelta(minutes=number),
        author="u-alice",
        spec=StrategySpec(**values),  # type: ignore[arg-type]
        kind="signal",
        code_hash="ab" * 32,
        code_version="1.0.0",
        change="created" if number == 1 else "edited",
    )


async def test_a_definition_and_its_versions_round_trip(store: CatalogStore) -> None:
    await store.create(definition(), version(1))
    got = await store.get("d1")
    assert got == definition()
    assert await store.find("btc-sma") == got
    v2 = msgspec.structs.replace(version(2, params={"fast": 5, "slow": 50}), rollback_of=None)
    after = await store.add_version(v2)
    assert after.current == 2
    assert (await store.get("d1")).current == 2
    assert await store.versions("d1") == [version(1), v2]
    assert await store.version("d1", 2) == v2


async def test_taken_names_and_ids_conflict_and_store_nothing(store: CatalogStore) -> None:
    await store.create(definition(), version(1))
    with pytest.raises(Conflict, match="btc-sma"):
        await store.create(definition("d2"), version(1, "d2"))
    with pytest.raises(Conflict):
        await store.create(definition("d1", "other"), version(1))
    assert [d.name for d in await store.list()] == ["btc-sma"]
    with pytest.raises(NotFound):
        await store.get("d2")


async def test_a_version_out_of_turn_conflicts(store: CatalogStore) -> None:
    await store.create(definition(), version(1))
    await store.add_version(version(2))
    with pytest.raises(Conflict, match="another change came first"):
        await store.add_version(version(2, notes="racing"))
    with pytest.raises(Conflict):
        await store.add_version(version(4))
    assert [v.number for v in await store.versions("d1")] == [1, 2]
    assert (await store.version("d1", 2)).spec.notes == "first try"
    with pytest.raises(NotFound):
        await store.add_version(version(2, "nope"))


async def test_unknown_things_are_not_found(store: CatalogStore) -> None:
    with pytest.raises(NotFound):
        await store.find("nope")
    with pytest.raises(NotFound):
        await store.versions("nope")
    with pytest.raises(NotFound):
        await store.history("nope")
    await store.create(definition(), version(1))
    with pytest.raises(NotFound, match="no version 9"):
        await store.version("d1", 9)


async def test_list_filters_by_owner_and_readability(store: CatalogStore) -> None:
    await store.create(definition("d1", "zeta", "u-alice"), version(1, "d1"))
    await store.create(definition("d2", "alpha", "u-bob"), version(1, "d2"))
    shared = msgspec.structs.replace(definition("d3", "mid", "u-bob"), shared=True)
    await store.create(shared, version(1, "d3"))
    assert [d.name for d in await store.list()] == ["alpha", "mid", "zeta"]
    assert [d.name for d in await store.list(owner="u-bob")] == ["alpha", "mid"]
    assert [d.name for d in await store.list(readable_by="u-alice")] == ["mid", "zeta"]


def change(v: StrategyVersion, after: DeployState, minute: int = 10) -> StateChange:
    return StateChange(
        definition_id=v.definition_id,
        number=v.number,
        at=T0 + timedelta(minutes=minute),
        actor="u-bob",
        before=v.state,
        after=after,
        reason="test",
    )


async def test_state_changes_apply_only_from_the_expected_state(store: CatalogStore) -> None:
    await store.create(definition(), version(1))
    v1 = await store.version("d1", 1)
    cand = transition(v1, DeployState.CANDIDATE, actor="u-alice")
    await store.set_state(cand, change(v1, DeployState.CANDIDATE))
    approved = transition(cand, DeployState.APPROVED, actor="u-bob", walk_forward="wf-1")
    await store.set_state(approved, change(cand, DeployState.APPROVED, 11))
    stored = await store.version("d1", 1)
    assert (stored.state, stored.walk_forward, stored.approved_by) == ("approved", "wf-1", "u-bob")
    assert stored.spec == v1.spec  # the version itself never changes
    stale = change(cand, DeployState.APPROVED, 12)  # says "from candidate": it is approved now
    with pytest.raises(Conflict, match="is approved now"):
        await store.set_state(approved, stale)
    history = await store.history("d1")
    assert [(h.before, h.after) for h in history] == [
        ("draft", "candidate"),
        ("candidate", "approved"),
    ]


async def test_concurrent_versions_one_wins(store: CatalogStore) -> None:
    await store.create(definition(), version(1))
    results = await asyncio.gather(
        *(store.add_version(version(2, notes=f"writer {i}")) for i in range(4)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
    assert [v.number for v in await store.versions("d1")] == [1, 2]
