"""OptimizeStudies with in-memory stores: grid, random and bayes; resume; promote; RBAC."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from arbx.adapters.compute.in_process import InProcessExecutor
from arbx.adapters.compute.local_process import LocalProcessExecutor
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.run_store import MemoryRunStore
from arbx.adapters.memory.study_store import MemoryStudyStore
from arbx.app.optimize import OptimizeStudies, decode_optimization
from arbx.app.run_backtest import CLI_OPERATOR, RunBacktest
from arbx.domain.auth import Principal, PrincipalKind, Role
from arbx.domain.errors import Conflict, Forbidden, InvalidInput
from arbx.domain.research.study import Trial
from arbx.ports.clock import Clock
from arbx.ports.executor import Executor
from tests.builders import key, make_bars

START = datetime(2024, 1, 1, tzinfo=UTC)
OP = CLI_OPERATOR


class StillClock(Clock):
    def now(self) -> datetime:
        return datetime(2025, 1, 1, tzinfo=UTC)


def counter(prefix: str) -> Callable[[], str]:
    numbers = iter(range(10_000))
    return lambda: f"{prefix}{next(numbers)}"


def analyst(user_id: str) -> Principal:
    return Principal(
        kind=PrincipalKind.USER, user_id=user_id, username=user_id, roles=frozenset({Role.ANALYST})
    )


class World:
    def __init__(self, executor: Executor, max_trials: int = 10_000) -> None:
        self.bars = MemoryBarStore()
        self.runs = MemoryRunStore()
        self.studies = MemoryStudyStore()
        self.backtests = RunBacktest(self.bars, self.runs, StillClock(), counter("run"))
        self.uc = OptimizeStudies(
            self.backtests,
            self.studies,
            executor,
            StillClock(),
            counter("study"),
            max_trials=max_trials,
        )

    async def load(self) -> None:
        await self.bars.write(key("binance:BTC/USDC:1m"), make_bars(3000, START, volatility=0.01))
        await self.bars.write(
            key("kraken:BTC/USDC:1m"), make_bars(3000, START, volatility=0.01, seed=9, price=100.2)
        )
        await self.bars.write(
            key("coinbase:BTC/USDC:1m"), make_bars(3000, START, volatility=0.01, seed=5, price=99.9)
        )


@pytest.fixture
async def world() -> Any:
    executor = InProcessExecutor(workers=2)
    w = World(executor)
    await w.load()
    yield w
    await executor.shutdown()


SMA_SPACE = {"fast": {"low": 5, "high": 25, "step": 5}, "slow": {"low": 20, "high": 60, "step": 10}}


def sma(**change: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "backtest": {
            "strategy": "sma_cross",
            "series": ["binance:BTC/USDC:1m"],
            "start": "2024-01-01",
            "end": "2024-01-04",
        },
        "space": SMA_SPACE,
    }
    return {**body, **change}


def arb(**change: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "backtest": {
            "strategy": "threshold_arb",
            "series": ["binance:BTC/USDC:1m", "kraken:BTC/USDC:1m", "coinbase:BTC/USDC:1m"],
            "start": "2024-01-01",
            "end": "2024-01-03",
        },
        "space": {"threshold_bps": {"low": 1, "high": 80}, "max_qty": {"low": 0.05, "high": 0.5}},
        "method": "bayes",
        "trials": 12,
        "objective": "net_pnl",
    }
    return {**body, **change}


def essence(trials: list[Trial]) -> list[tuple[Any, ...]]:
    return [(t.number, t.params, t.status, t.value, t.metrics, t.returns) for t in trials]


async def test_a_grid_runs_every_valid_pair_with_the_metrics_of_the_run_it_becomes(
    world: World,
) -> None:
    study = await world.uc.create(decode_optimization(sma()), actor=OP)
    expected = [(f, s) for f in range(5, 26, 5) for s in range(20, 61, 10) if f < s]
    assert study.n_trials == len(expected)
    assert study.refused_points == 25 - len(expected)
    assert study.series[0].sha256 is not None
    seen: list[int] = []
    view = await world.uc.run(study.id, actor=OP, progress=lambda d, n, b: seen.append(d))
    assert view.study.status == "done"
    assert view.trials_done == len(expected)
    assert seen[-1] == len(expected)
    trials = await world.studies.trials(study.id)
    assert [(t.params["fast"], t.params["slow"]) for t in trials] == expected
    assert view.best is not None
    assert view.best.value == max(t.value for t in trials if t.value is not None)
    run = await world.uc.promote(study.id, actor=OP)  # the best
    assert run.meta.params == {"entry": "cross", **view.best.params}
    assert run.meta.metrics.sharpe == view.best.metrics.sharpe
    assert run.meta.metrics.total_return == view.best.metrics.total_return
    assert run.meta.metrics.trade_count == view.best.metrics.trade_count
    assert run.meta.excess_return == view.best.metrics.excess_return
    stored = await world.studies.trials(study.id)
    assert stored[view.best.number].run_id == run.id


async def test_random_search_is_reproducible_and_independent_of_jobs(world: World) -> None:
    body = sma(
        method="random", trials=8, seed=3, space={"fast": {"low": 2, "high": 30}, "slow": 60}
    )
    a = await world.uc.create(decode_optimization(body), actor=OP)
    b = await world.uc.create(decode_optimization(body), actor=OP)
    await world.uc.run(a.id, actor=OP, jobs=1)
    await world.uc.run(b.id, actor=OP, jobs=2)
    ta, tb = await world.studies.trials(a.id), await world.studies.trials(b.id)
    assert len(ta) == 8
    assert [(x.params, x.value, x.metrics) for x in ta] == [
        (y.params, y.value, y.metrics) for y in tb
    ]
    assert len({t.params["fast"] for t in ta}) > 1


async def test_bayes_on_three_venue_arbitrage_is_reproducible(world: World) -> None:
    a = await world.uc.create(decode_optimization(arb()), actor=OP)
    b = await world.uc.create(decode_optimization(arb()), actor=OP)
    await world.uc.run(a.id, actor=OP, jobs=1)
    await world.uc.run(b.id, actor=OP, jobs=1)
    ta, tb = await world.studies.trials(a.id), await world.studies.trials(b.id)
    assert len(ta) == 12
    assert essence(ta) == essence(tb)
    assert all(t.status == "done" for t in ta)
    assert all(1 <= t.params["threshold_bps"] <= 80 for t in ta)
    run = await world.uc.promote(a.id, 4, actor=OP)
    assert run.meta.engine == "arbitrage"
    assert run.meta.metrics.final_equity == ta[4].metrics.final_equity


async def test_an_interrupted_study_resumes_to_the_same_trials(world: World) -> None:
    # the SMA kernel computes up to 50 trials per call: the cut falls after a batch
    body = sma(method="random", trials=120, seed=1)
    whole = await world.uc.create(decode_optimization(body), actor=OP)
    await world.uc.run(whole.id, actor=OP, jobs=1)
    cut = await world.uc.create(decode_optimization(body), actor=OP)

    stop_after = 4
    task: asyncio.Task[Any]

    def progress(done: int, total: int, best: Trial | None) -> None:
        if done >= stop_after:
            task.cancel()

    task = asyncio.ensure_future(world.uc.run(cut.id, actor=OP, jobs=1, progress=progress))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await world.studies.get(cut.id)).status == "interrupted"
    kept = await world.studies.trials(cut.id)
    assert stop_after <= len(kept) < 120
    view = await world.uc.resume(cut.id, actor=OP)
    assert view.study.status == "done"
    assert essence(await world.studies.trials(cut.id)) == essence(
        await world.studies.trials(whole.id)
    )


async def test_changed_data_refuses_a_resume(world: World) -> None:
    study = await world.uc.create(decode_optimization(sma()), actor=OP)
    frame = make_bars(3000, START, volatility=0.01, seed=99)
    await world.bars.write(key("binance:BTC/USDC:1m"), frame)
    # a later process (arbx optimize resume) reads the bars again and sees the change
    later = OptimizeStudies(world.backtests, world.studies, world.uc._executor, StillClock())
    with pytest.raises(Conflict, match="changed since it started"):
        await later.run(study.id, actor=OP)
    assert await world.studies.trials(study.id) == []
    # the process that created it runs it on the bars it fingerprinted then
    view = await world.uc.run(study.id, actor=OP)
    assert view.study.series == study.series


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"method": "annealing"}, "method"),
        ({"objective": "alpha"}, "objective.metric"),
        ({"direction": "sideways"}, "objective.direction"),
        ({"space": {"fast": {"low": 30, "high": 5}}}, "space.fast"),
        ({"space": {"window": {"low": 1, "high": 5}}}, "space.window"),
        ({"space": {}}, "space"),
        ({"trials": 5}, "trials"),
        ({"method": "random", "trials": 0}, "trials"),
        ({"method": "random", "trials": 10_001}, "trials"),
        (
            {
                "space": {
                    "fast": {"low": 1, "high": 200, "step": 1},
                    "slow": {"low": 2, "high": 201, "step": 1},
                }
            },
            "space",
        ),
        (
            {"backtest": {"strategy": "sma_cross", "series": ["binance:BTC/USDC:1m"]}},
            "backtest.start",
        ),
        ({"backtest": {**sma()["backtest"], "strategy": "nope"}}, "backtest.strategy"),
        ({"backtest": {**sma()["backtest"], "series": ["binance:ETH/USDC:1m"]}}, "backtest.series"),
        # trials fill on bars or synthetic books: recorded streams are refused up front
        (
            {"backtest": {**sma()["backtest"], "execution": "recorded_book"}},
            "backtest.execution",
        ),
    ],
)
async def test_bad_requests_name_the_field_and_store_nothing(
    world: World, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        await world.uc.create(decode_optimization(sma(**change)), actor=OP)
    assert err.value.field == field, err.value.message
    assert await world.studies.list() == []


async def test_a_study_on_recorded_books_is_refused_before_any_read(world: World) -> None:
    body = sma(backtest={**sma()["backtest"], "execution": "recorded_quotes"})
    with pytest.raises(InvalidInput, match="not supported in studies") as err:
        await world.uc.create(decode_optimization(body), actor=OP)
    assert err.value.field == "backtest.execution"


async def test_grid_over_max_trials_says_the_count() -> None:
    executor = InProcessExecutor(workers=1)
    w = World(executor, max_trials=10)
    await w.load()
    with pytest.raises(InvalidInput, match="the grid has 25 points") as err:
        await w.uc.create(decode_optimization(sma()), actor=OP)
    assert "optimize.max_trials (10)" in err.value.message
    await executor.shutdown()


async def test_analysts_see_their_own_studies_and_admins_all(world: World) -> None:
    ann, bob = analyst("ann"), analyst("bob")
    mine = await world.uc.create(decode_optimization(sma()), actor=ann)
    assert mine.owner == "ann"
    with pytest.raises(Forbidden):
        await world.uc.view(mine.id, actor=bob)
    with pytest.raises(Forbidden):
        await world.uc.run(mine.id, actor=bob)
    with pytest.raises(Forbidden):
        await world.uc.promote(mine.id, actor=bob)
    assert [v.study.id for v in await world.uc.list(actor=bob)] == []
    assert [v.study.id for v in await world.uc.list(actor=ann)] == [mine.id]
    assert [v.study.id for v in await world.uc.list(actor=OP)] == [mine.id]
    viewer = Principal(
        kind=PrincipalKind.USER, user_id="vic", username="vic", roles=frozenset({Role.VIEWER})
    )
    with pytest.raises(Forbidden):
        await world.uc.create(decode_optimization(sma()), actor=viewer)


async def test_diagnostics_compute_dsr_and_pbo_on_the_stored_trials(world: World) -> None:
    study = await world.uc.create(decode_optimization(sma()), actor=OP)
    await world.uc.run(study.id, actor=OP)
    d = await world.uc.diagnostics(study.id, actor=OP)
    assert d.deflated_sharpe is not None
    assert 0.0 <= d.deflated_sharpe.probability <= 1.0
    assert d.deflated_sharpe.trials == study.n_trials
    assert d.pbo is not None
    assert d.pbo.trials == study.n_trials
    assert 0.0 <= d.pbo.probability <= 1.0


@pytest.mark.parametrize(
    "body",
    [
        sma(),
        arb(trials=4),
        sma(method="random", trials=3, backtest={**sma()["backtest"], "engine": "event"}),
    ],
    ids=["grid", "arbitrage", "event"],
)
async def test_the_process_pool_gives_the_trials_of_threads(body: dict[str, Any]) -> None:
    # the pool's workers read the bars from shared memory (read-only views): same trials
    threads, processes = InProcessExecutor(workers=2), LocalProcessExecutor(workers=2)
    try:
        a, b = World(threads), World(processes)
        await a.load()
        await b.load()
        sa = await a.uc.create(decode_optimization(body), actor=OP)
        sb = await b.uc.create(decode_optimization(body), actor=OP)
        await a.uc.run(sa.id, actor=OP, jobs=2)
        await b.uc.run(sb.id, actor=OP, jobs=2)
        ta, tb = await a.studies.trials(sa.id), await b.studies.trials(sb.id)
        assert [msgspec.structs.replace(t, seconds=0.0) for t in ta] == [
            msgspec.structs.replace(t, seconds=0.0) for t in tb
        ]
    finally:
        await threads.shutdown()
        await processes.shutdown()
