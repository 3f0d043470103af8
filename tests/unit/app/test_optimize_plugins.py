"""Optimization and walk-forward over strategy plugins, like built-ins: a signal plugin
(no grid kernel: one run per trial), an event plugin, and the several-series event example;
on threads and in worker processes (which load the same plugins)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from arbx.adapters.compute.in_process import InProcessExecutor
from arbx.adapters.compute.local_process import LocalProcessExecutor
from arbx.adapters.memory.walk_forward_store import MemoryWalkForwardStore
from arbx.adapters.plugins.strategy_loader import PluginsOfThisProcess
from arbx.app.optimize import decode_optimization
from arbx.app.walk_forward import WalkForward, decode_walk_forward
from tests.support.plugins import EXAMPLES, plugins
from tests.unit.app.test_optimize import OP, StillClock, World

BOLLINGER = {
    "window": {"low": 10, "high": 40, "step": 15},
    "k": {"low": 1.0, "high": 2.0, "step": 1.0},
}


@pytest.fixture(autouse=True)
def examples() -> Iterator[None]:
    with plugins(EXAMPLES):
        yield


def study(strategy: str, space: dict[str, Any], series: list[str], **extra: Any) -> Any:
    return decode_optimization(
        {
            "backtest": {
                "strategy": strategy,
                "series": series,
                "start": "2024-01-01",
                "end": "2024-01-03",
            },
            "space": space,
            **extra,
        }
    )


@pytest.mark.parametrize("where", ["threads", "processes"])
async def test_a_signal_plugin_is_optimized_and_its_best_trial_promoted(where: str) -> None:
    executor = (
        InProcessExecutor(workers=2)
        if where == "threads"
        else LocalProcessExecutor(workers=2, initializer=PluginsOfThisProcess())
    )
    w = World(executor)
    await w.load()
    try:
        made = await w.uc.create(
            study("bollinger_breakout", BOLLINGER, ["binance:BTC/USDC:1m"]), actor=OP
        )
        assert made.n_trials == 6
        view = await w.uc.run(made.id, actor=OP)
        assert view.study.status == "done"
        trials = await w.studies.trials(made.id)
        assert all(t.status == "done" for t in trials), [t.error for t in trials]
        assert len({t.value for t in trials}) > 1  # the parameters change the result
        run = await w.uc.promote(made.id, actor=OP)
        assert view.best is not None
        assert run.meta.metrics.sharpe == view.best.metrics.sharpe
        assert any("strategy plugin bollinger_breakout" in n for n in run.meta.notes)
    finally:
        await executor.shutdown()


async def test_event_plugins_one_and_several_series_walk_forward() -> None:
    executor = InProcessExecutor(workers=2)
    w = World(executor)
    await w.load()
    try:
        wf = WalkForward(w.uc, executor, MemoryWalkForwardStore(), StillClock())
        for strategy, space, series in (
            (
                "StopAndReverse",
                {"window": {"low": 10, "high": 30, "step": 10}},
                ["binance:BTC/USDC:1m"],
            ),
            (
                "PairsReversion",
                {
                    "window": {"low": 30, "high": 90, "step": 30},
                    "entry_z": {"low": 1.5, "high": 2.5, "step": 1.0},
                },
                ["binance:BTC/USDC:1m", "kraken:BTC/USDC:1m"],
            ),
        ):
            body = {
                "optimization": {
                    "backtest": {
                        "strategy": strategy,
                        "series": series,
                        "start": "2024-01-01",
                        "end": "2024-01-03",
                    },
                    "space": space,
                },
                "train": 1000,
                "test": 400,
            }
            result = await wf.execute(decode_walk_forward(body), actor=OP)
            assert result is not None
            assert len(result.folds) == 4, strategy
            assert all(f.error is None for f in result.folds), [f.error for f in result.folds]
            assert all(f.params for f in result.folds)
            assert result.oos_metrics.bars == 1600
    finally:
        await executor.shutdown()
