"""The RunStore contract, run against every adapter (memory, sqlite, postgres)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from arbx.adapters.memory.run_store import MemoryRunStore
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.adapters.sqlite.run_store import SqliteRunStore
from arbx.domain.backtest.execution import BarArrays, Execution
from arbx.domain.backtest.listing import RunQuery
from arbx.domain.backtest.request import decode_request, validate_request
from arbx.domain.backtest.run import TABLE_NAMES, BacktestRun, SeriesUsed
from arbx.domain.backtest.runner import run as run_backtest
from arbx.domain.backtest.vectorized import run_vectorized
from arbx.domain.errors import Conflict, NotFound
from arbx.domain.market import SeriesKey
from arbx.ports.run_store import RunFailure, RunStore
from tests.builders import make_bars

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def memory_run_store() -> RunStore:
    return MemoryRunStore()


@pytest.fixture
async def sqlite_run_store(tmp_path: Path) -> AsyncIterator[RunStore]:
    async with SqliteDatabase(tmp_path / "arbx.sqlite") as database:
        yield SqliteRunStore(database)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def runs(request: pytest.FixtureRequest) -> RunStore:
    store: RunStore = request.getfixturevalue(f"{request.param}_run_store")
    return store


def a_run(
    run_id: str = "r1",
    *,
    at: datetime = T0,
    strategy: str = "sma_cross",
    owner: str | None = None,
    shared: bool = False,
) -> BacktestRun:
    params = {"fast": 3, "slow": 9} if strategy == "sma_cross" else {}
    request = decode_request(
        {
            "strategy": strategy,
            "params": params,
            "series": ["binance:BTC/USDC:1m"],
            "start": "2024-01-01",
            "end": "2024-01-02",
        }
    )
    valid = validate_request(request)
    frame = make_bars(200, volatility=0.01, seed=len(run_id))
    bars = BarArrays.from_frame(frame, venue="binance", symbol="BTC/USDC")
    target = (np.arange(200) % 20 < 10).astype(float)
    result = run_vectorized(bars, target, Execution())
    used = [SeriesUsed("binance:BTC/USDC:1m", 200, frame["ts"][0], frame["ts"][-1])]
    run = BacktestRun.of(
        run_id, at, request, valid.params, (valid.span.start, valid.span.end), used, result
    )
    meta = msgspec.structs.replace(run.meta, owner=owner, shared=shared)
    return BacktestRun(meta, run.tables)


def a_failure(run_id: str = "f1", *, owner: str | None = "u1") -> RunFailure:
    return RunFailure(
        id=run_id,
        created_at=T0,
        strategy="threshold_arb",
        bars=7500,
        error="interrupted: arbx stopped while the run was computing; run it again",
        owner=owner,
        shared=True,
    )


async def test_save_then_get_returns_the_run_exactly(runs: RunStore) -> None:
    run = a_run()
    await runs.save(run)
    back = await runs.get("r1")
    assert back.meta == run.meta
    for name in TABLE_NAMES:
        assert back.tables[name].equals(run.tables[name]), name
        assert back.tables[name].schema == run.tables[name].schema
    # floats keep their bits
    assert (
        back.tables["curve"]["equity"].to_numpy().tobytes()
        == run.tables["curve"]["equity"].to_numpy().tobytes()
    )
    assert (await runs.table("r1", "trades")).equals(run.tables["trades"])
    assert await runs.meta("r1") == run.meta


def an_arbitrage_run(run_id: str = "arb") -> BacktestRun:
    series = ["binance:BTC/USDC:1m", "kraken:BTC/USDC:1m"]
    request = decode_request(
        {
            "strategy": "threshold_arb",
            "params": {"threshold_bps": 1.0, "max_qty": 0.5},
            "series": series,
            "start": "2024-01-01",
            "end": "2024-01-02",
            "fees": {"binance": {"taker_bps": 0.0}, "kraken": {"taker_bps": 0.0}},
        }
    )
    valid = validate_request(request)
    frames = {
        SeriesKey.parse(s): make_bars(300, volatility=0.002, seed=i) for i, s in enumerate(series)
    }
    result = run_backtest(valid, frames)
    used = [
        SeriesUsed(s, 300, frames[k]["ts"][0], frames[k]["ts"][-1])
        for s, k in zip(series, frames, strict=True)
    ]
    return BacktestRun.of(
        run_id, T0, request, valid.params, (valid.span.start, valid.span.end), used, result
    )


async def test_an_arbitrage_run_keeps_its_attribution_and_opportunities(runs: RunStore) -> None:
    run = an_arbitrage_run()
    assert run.meta.attribution is not None
    assert not run.tables["opportunities"].is_empty()
    await runs.save(run)
    back = await runs.get("arb")
    assert back.meta == run.meta  # attribution, common currency, excess included
    assert back.tables["opportunities"].equals(run.tables["opportunities"])
    assert (await runs.table("arb", "opportunities")).equals(run.tables["opportunities"])
    # a signal run stores an empty opportunities table and reads it back empty
    await runs.save(a_run("plain"))
    assert (await runs.get("plain")).tables["opportunities"].is_empty()


async def test_a_taken_id_conflicts_and_changes_nothing(runs: RunStore) -> None:
    await runs.save(a_run())
    other = a_run("r1", strategy="buy_and_hold")
    with pytest.raises(Conflict):
        await runs.save(other)
    assert (await runs.get("r1")).meta.strategy == "sma_cross"


async def test_unknown_ids_are_not_found(runs: RunStore) -> None:
    with pytest.raises(NotFound):
        await runs.get("nope")
    with pytest.raises(NotFound):
        await runs.table("nope", "curve")
    with pytest.raises(NotFound):
        await runs.meta("nope")
    with pytest.raises(NotFound):
        await runs.delete("nope")


async def test_list_is_newest_first_filtered_and_limited(runs: RunStore) -> None:
    await runs.save(a_run("a", at=T0))
    await runs.save(a_run("b", at=T0 + timedelta(minutes=1), strategy="buy_and_hold"))
    await runs.save(a_run("c", at=T0 + timedelta(minutes=2)))
    await runs.save(a_run("d", at=T0 + timedelta(minutes=2)))
    assert [s.id for s in await runs.list()] == ["d", "c", "b", "a"]
    assert [s.id for s in await runs.list(strategy="sma_cross")] == ["d", "c", "a"]
    assert [s.id for s in await runs.list(limit=2)] == ["d", "c"]
    summary = (await runs.list(strategy="buy_and_hold"))[0]
    assert summary.series == ["binance:BTC/USDC:1m"]
    assert summary.created_at == T0 + timedelta(minutes=1)
    assert summary.trade_count == (await runs.get("b")).meta.metrics.trade_count


def a_listed_run(
    run_id: str,
    minute: int,
    series: list[str],
    day: int,
    sharpe: float | None,
) -> BacktestRun:
    """A run that read ``series`` over Jan ``day`` 2024, with Sharpe ``sharpe``."""
    run = a_run(run_id, at=T0 + timedelta(minutes=minute))
    start = datetime(2024, 1, day, tzinfo=UTC)
    meta = msgspec.structs.replace(
        run.meta,
        series=[SeriesUsed(name, 10, start, start) for name in series],
        span_start=start,
        span_end=start + timedelta(days=1),
        metrics=msgspec.structs.replace(run.meta.metrics, sharpe=sharpe),
    )
    return BacktestRun(meta, run.tables)


async def test_list_filters_by_series_venue_and_span_sorts_by_a_metric_and_pages(
    runs: RunStore,
) -> None:
    btc, eth = "binance:BTC/USDC:1m", "kraken:ETH/USD:1m"
    await runs.save(a_listed_run("a", 0, [btc], 1, 1.5))
    await runs.save(a_listed_run("b", 1, [eth], 2, None))
    await runs.save(a_listed_run("c", 2, [btc, eth], 3, -0.5))
    await runs.save(a_listed_run("d", 3, ["binanceus:BTC/USDC:1m"], 4, 2.5))
    await runs.save(a_listed_run("e", 4, [btc], 5, 1.5))

    async def ids(**query: Any) -> list[str]:
        limit = query.pop("limit", 100)
        return [s.id for s in await runs.list(query=RunQuery(**query), limit=limit)]

    assert await ids() == ["e", "d", "c", "b", "a"]
    assert await ids(series=btc) == ["e", "c", "a"]
    assert await ids(venue="kraken") == ["c", "b"]
    assert await ids(venue="binance") == ["e", "c", "a"]  # not binanceus
    jan = datetime(2024, 1, 1, tzinfo=UTC)
    # spans overlapping [Jan 2 12:00, Jan 4): Jan 2, 3; Jan 4 starts at the end
    assert await ids(start=jan + timedelta(days=1, hours=12), end=jan + timedelta(days=3)) == [
        "c",
        "b",
    ]
    assert await ids(start=jan + timedelta(days=4)) == ["e"]
    # by Sharpe: a run without one is last either way; ties newest first
    assert await ids(sort="sharpe") == ["d", "e", "a", "c", "b"]
    assert await ids(sort="sharpe", order="asc") == ["c", "e", "a", "d", "b"]
    assert await ids(sort="created_at", order="asc") == ["a", "b", "c", "d", "e"]
    assert await ids(sort="sharpe", offset=1, limit=2) == ["e", "a"]
    assert await ids(sort="sharpe", offset=5) == []
    assert await ids(series=btc, sort="sharpe", order="asc", offset=1) == ["e", "a"]
    assert [s.id for s in await runs.list(strategy="buy_and_hold", query=RunQuery())] == []


async def test_delete_removes_the_run_and_its_tables(runs: RunStore) -> None:
    await runs.save(a_run("a"))
    await runs.save(a_run("b"))
    await runs.delete("a")
    assert [s.id for s in await runs.list()] == ["b"]
    with pytest.raises(NotFound):
        await runs.table("a", "curve")
    await runs.ping()


async def test_a_reader_lists_own_shared_and_ownerless_runs_paged_after_the_filter(
    runs: RunStore,
) -> None:
    await runs.save(a_run("mine", at=T0, owner="ana"))
    await runs.save(a_run("theirs", at=T0 + timedelta(minutes=1), owner="bob"))
    await runs.save(a_run("shared", at=T0 + timedelta(minutes=2), owner="bob", shared=True))
    await runs.save(a_run("cli", at=T0 + timedelta(minutes=3)))
    for n in range(3):  # newer private runs of someone else must not eat the reader's page
        await runs.save(a_run(f"bob{n}", at=T0 + timedelta(minutes=10 + n), owner="bob"))
    assert [s.id for s in await runs.list(readable_by="ana")] == ["cli", "shared", "mine"]
    assert [s.id for s in await runs.list(readable_by="ana", limit=2)] == ["cli", "shared"]
    bobs = await runs.list(readable_by="bob", strategy="sma_cross")
    assert [s.id for s in bobs] == ["bob2", "bob1", "bob0", "cli", "shared", "theirs"]
    assert len(await runs.list(limit=1000)) == 7
    owned = (await runs.list(readable_by="ana", limit=1000))[-1]
    assert (owned.owner, owned.shared) == ("ana", False)


async def test_a_recorded_failure_reads_back_and_is_not_a_run(runs: RunStore) -> None:
    await runs.save(a_run("r1"))
    failure = a_failure()
    await runs.record_failure(failure)
    assert await runs.failure("f1") == failure
    with pytest.raises(NotFound):
        await runs.get("f1")
    with pytest.raises(NotFound):
        await runs.table("f1", "curve")
    with pytest.raises(NotFound):
        await runs.delete("f1")
    with pytest.raises(NotFound):
        await runs.failure("r1")
    with pytest.raises(NotFound):
        await runs.failure("nope")
    assert [s.id for s in await runs.list()] == ["r1"]
    assert [s.id for s in await runs.list(readable_by="u1")] == ["r1"]


async def test_failures_and_runs_share_one_id_space(runs: RunStore) -> None:
    await runs.save(a_run("r1"))
    await runs.record_failure(a_failure("f1"))
    with pytest.raises(Conflict):
        await runs.record_failure(a_failure("r1"))
    with pytest.raises(Conflict):
        await runs.record_failure(a_failure("f1", owner="other"))
    with pytest.raises(Conflict):
        await runs.save(a_run("f1"))
    assert (await runs.failure("f1")).owner == "u1"
    assert (await runs.get("r1")).meta.strategy == "sma_cross"


async def test_failures_lists_every_failure_oldest_first(runs: RunStore) -> None:
    assert await runs.failures() == []
    await runs.save(a_run("r1"))
    late = msgspec.structs.replace(a_failure("f2"), created_at=T0 + timedelta(minutes=5))
    await runs.record_failure(late)
    await runs.record_failure(a_failure("f9"))
    await runs.record_failure(a_failure("f1", owner=None))
    assert [f.id for f in await runs.failures()] == ["f1", "f9", "f2"]
    assert (await runs.failures())[-1] == late


async def test_failures_page_newest_first_per_strategy_and_reader(runs: RunStore) -> None:
    for k in range(5):
        failure = msgspec.structs.replace(
            a_failure(f"f{k}", owner="bob" if k == 3 else None),
            created_at=T0 + timedelta(minutes=k),
            strategy="sma_cross" if k % 2 else "threshold_arb",
            shared=False,
        )
        await runs.record_failure(failure)
    newest = await runs.failures(newest_first=True, limit=2)
    assert [f.id for f in newest] == ["f4", "f3"]
    assert [f.id for f in await runs.failures(newest_first=True, offset=2)] == ["f2", "f1", "f0"]
    assert [f.id for f in await runs.failures(strategy="sma_cross")] == ["f1", "f3"]
    assert [f.id for f in await runs.failures(readable_by="ana")] == ["f0", "f1", "f2", "f4"]
    assert [f.id for f in await runs.failures(readable_by="bob", limit=0)] == []


async def test_a_cancelled_run_reads_back_as_cancelled(runs: RunStore) -> None:
    cancelled = msgspec.structs.replace(
        a_failure("b1"), status="cancelled", error="cancelled by alice"
    )
    await runs.record_failure(cancelled)
    assert await runs.failure("b1") == cancelled
    assert (await runs.failure("b1")).status == "cancelled"
    assert (await runs.failures())[0].status == "cancelled"


async def test_sqlite_run_stored_before_the_opportunities_table_reads_it_empty(
    tmp_path: Path,
) -> None:
    """A run saved before migration 0007 has no opportunities row: read back empty, not a
    storage error (the same rule holds on PostgreSQL: a LEFT JOIN finds no table)."""
    async with SqliteDatabase(tmp_path / "arbx.sqlite") as database:
        store = SqliteRunStore(database)
        await store.save(a_run("old"))
        await database.run(
            lambda conn: conn.execute(
                "DELETE FROM backtest_run_tables WHERE run_id = 'old' AND name = 'opportunities'"
            )
        )
        assert (await store.table("old", "opportunities")).is_empty()
        assert (await store.get("old")).tables["opportunities"].is_empty()
