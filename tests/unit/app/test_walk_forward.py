"""WalkForward with in-memory stores: folds, the chosen params, stitched OOS equity."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np
import polars as pl
import pytest

from arbx.adapters.compute.in_process import InProcessExecutor
from arbx.adapters.memory.walk_forward_store import MemoryWalkForwardStore
from arbx.app.optimize import decode_optimization
from arbx.app.walk_forward import WalkForward, decode_walk_forward
from arbx.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from arbx.domain.market.timespan import TimeSpan
from tests.builders import key
from tests.unit.app.test_optimize import OP, SMA_SPACE, StillClock, World, analyst, arb


@pytest.fixture
async def world() -> Any:
    executor = InProcessExecutor(workers=2)
    w = World(executor)
    await w.load()
    yield w, WalkForward(w.uc, executor, MemoryWalkForwardStore(), StillClock())
    await executor.shutdown()


def sma_wf(**change: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "optimization": {
            "backtest": {
                "strategy": "sma_cross",
                "series": ["binance:BTC/USDC:1m"],
                "start": "2024-01-01",
                "end": "2024-01-03",
            },
            "space": SMA_SPACE,
        },
        "train": 1000,
        "test": 400,
    }
    return {**body, **change}


async def test_each_fold_picks_the_best_of_its_train_span_and_oos_is_chained(world: Any) -> None:
    w, wf = world
    result = await wf.execute(decode_walk_forward(sma_wf()), actor=OP)
    assert len(result.folds) == 4  # 2880 bars: tests at 1000, 1400, 1800, 2200
    f0 = result.folds[0]
    assert f0.error is None
    # the fold's choice is the best trial of the same grid run as a study on its train span
    body = {
        "backtest": {
            "strategy": "sma_cross",
            "series": ["binance:BTC/USDC:1m"],
            "start": f0.train_start.isoformat(),
            "end": f0.train_end.isoformat(),
        },
        "space": SMA_SPACE,
    }
    study = await w.uc.create(decode_optimization(body), actor=OP)
    view = await w.uc.run(study.id, actor=OP)
    assert view.best is not None
    assert f0.params == view.best.params
    assert f0.in_sample_value == view.best.value
    # OOS equity: every test fold's bars, chained from the previous fold's final equity
    assert len(result.oos_equity) == 4 * 400
    assert result.oos_ts == sorted(result.oos_ts)
    assert result.oos_metrics.bars == 1600
    first_oos = f0.out_of_sample
    assert first_oos is not None
    assert result.oos_equity[399] == pytest.approx(first_oos.final_equity)
    total = np.prod([1 + (f.out_of_sample.total_return or 0) for f in result.folds])  # type: ignore[union-attr]
    assert result.oos_metrics.total_return == pytest.approx(total - 1)
    assert sum(sum(c.values()) for c in result.stability.values()) == 2 * 4
    assert result.efficiency is None or np.isfinite(result.efficiency)


async def test_anchored_folds_grow_and_arbitrage_walks_forward(world: Any) -> None:
    _, wf = world
    anchored = await wf.execute(
        decode_walk_forward(sma_wf(mode="anchored", step=800, embargo=10, purge=5)), actor=OP
    )
    starts = {f.train_start for f in anchored.folds}
    assert len(starts) == 1
    body = {"optimization": {**arb(), "trials": 4}, "train": 1200, "test": 600}
    result = await wf.execute(decode_walk_forward(body), actor=OP)
    assert len(result.folds) == 2
    assert all(f.params is not None and f.out_of_sample is not None for f in result.folds)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"train": 5000}, "folds"),
        ({"train": 0}, "train"),
        ({"mode": "sideways"}, "mode"),
        ({"purge": 2000}, "purge"),
        ({"optimization": {"space": SMA_SPACE}}, "optimization.backtest"),
        ({"folds": 3}, "folds"),
    ],
)
async def test_folds_that_do_not_fit_and_bad_fields_are_refused(
    world: Any, change: dict[str, Any], field: str
) -> None:
    _, wf = world
    with pytest.raises(InvalidInput) as err:
        await wf.execute(decode_walk_forward(sma_wf(**change)), actor=OP)
    assert err.value.field == field, err.value.message


async def test_a_walk_forward_is_stored_fold_by_fold_and_shown_again(world: Any) -> None:
    _, wf = world
    result = await wf.execute(decode_walk_forward(sma_wf()), actor=OP)
    view = await wf.view(result.id, actor=OP)
    assert view.walk_forward.status == "done"
    assert view.folds_done == 4
    assert view.result == result  # the stored folds give the same result, bit for bit
    assert [w.id for w in await wf.list(actor=OP)] == [result.id]
    assert view.walk_forward.strategy_version is None


async def test_an_interrupted_walk_forward_keeps_its_folds_and_resumes_to_the_same_result(
    world: Any,
) -> None:
    _, wf = world
    whole = await wf.execute(decode_walk_forward(sma_wf()), actor=OP)
    stopped = await wf.create(decode_walk_forward(sma_wf()), actor=OP)
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done == 2:
            raise asyncio.CancelledError  # as Ctrl-C after the second fold is stored

    with pytest.raises(asyncio.CancelledError):
        await wf.run(stopped.id, actor=OP, jobs=1, progress=progress)
    view = await wf.view(stopped.id, actor=OP)
    assert view.walk_forward.status == "interrupted"
    assert view.folds_done == 2
    assert "2 of 4 folds finished" in view.result.notes
    resumed = await wf.resume(stopped.id, actor=OP)
    assert resumed.walk_forward.status == "done"
    assert resumed.folds_done == 4
    again = msgspec.structs.replace(resumed.result, id=whole.id)
    assert again == whole


async def test_resume_refuses_when_the_data_changed(world: Any) -> None:
    w, wf = world
    stopped = await wf.create(decode_walk_forward(sma_wf()), actor=OP)
    wf._loaded.clear()  # a later process: the bars are read again
    span = TimeSpan(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 4, tzinfo=UTC))
    bars = await w.bars.read(key("binance:BTC/USDC:1m"), span)
    await w.bars.write(key("binance:BTC/USDC:1m"), bars.with_columns(pl.col("volume") * 1.01))
    with pytest.raises(Conflict, match="changed since it started"):
        await wf.run(stopped.id, actor=OP)
    assert (await wf.get(stopped.id, actor=OP)).status == "failed"


async def test_another_users_walk_forward_is_forbidden(world: Any) -> None:
    _, wf = world
    alice, bob = analyst("alice"), analyst("bob")
    result = await wf.execute(decode_walk_forward(sma_wf()), actor=alice)
    assert (await wf.view(result.id, actor=alice)).walk_forward.owner == "alice"
    with pytest.raises(Forbidden):
        await wf.view(result.id, actor=bob)
    assert await wf.list(actor=bob) == []
    with pytest.raises(NotFound):
        await wf.view("nope", actor=alice)
