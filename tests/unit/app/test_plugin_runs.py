"""Plugin strategies through RunBacktest: failed runs are recorded, workers load plugins."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from arbx.adapters.compute.local_process import LocalProcessExecutor
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.run_store import MemoryRunStore
from arbx.adapters.plugins.strategy_loader import PluginsOfThisProcess
from arbx.app.background_backtests import BackgroundBacktests, BackgroundRun
from arbx.app.run_backtest import CLI_OPERATOR, BacktestRuns, RunBacktest
from arbx.domain.backtest.request import decode_request
from arbx.domain.strategies.plugin import StrategyFailed
from arbx.ports.clock import Clock
from arbx.ports.run_store import RunFailure
from tests.builders import key, make_bars
from tests.support.plugins import EXAMPLES, plugins, write_plugin

START = datetime(2024, 1, 1, tzinfo=UTC)


class StillClock(Clock):
    def now(self) -> datetime:
        return datetime(2025, 1, 1, tzinfo=UTC)


def request(strategy: str) -> object:
    return decode_request(
        {
            "strategy": strategy,
            "series": ["binance:BTC/USDC:1m"],
            "start": "2024-01-01",
            "end": "2024-01-02",
        }
    )


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    write_plugin(
        tmp_path,
        "late_bug",
        """
        import numpy as np
        from arbx.strategy import signal

        @signal(per_bar=True)
        def late_bug(bars, p):
            if bars.n == 100:
                raise KeyError("column 'vwap'")
            return 0
        """,
    )
    with plugins(EXAMPLES, tmp_path):
        yield tmp_path


async def world(
    runs: MemoryRunStore | None = None, **kw: object
) -> tuple[MemoryRunStore, RunBacktest]:
    bars = MemoryBarStore()
    await bars.write(key(), make_bars(600, START, volatility=0.01))
    runs = runs or MemoryRunStore()
    counter = iter(range(100))
    uc = RunBacktest(bars, runs, StillClock(), lambda: f"run{next(counter)}", **kw)  # type: ignore[arg-type]
    return runs, uc


async def test_a_failing_plugin_is_a_recorded_failed_run(folder: Path) -> None:
    runs, uc = await world()
    with pytest.raises(StrategyFailed) as caught:
        await uc.execute(request("late_bug"), actor=CLI_OPERATOR)  # type: ignore[arg-type]
    assert caught.value.message.startswith("backtest run run0 failed: strategy late_bug")
    assert "at bar 99: KeyError" in caught.value.message
    status = await BacktestRuns(runs).status("run0", actor=CLI_OPERATOR)
    assert isinstance(status, RunFailure)
    assert "late_bug.py" in status.error
    assert "raise KeyError" in status.error
    assert await runs.list() == []  # no result stored


async def test_background_workers_load_the_same_plugins(folder: Path) -> None:
    executor = LocalProcessExecutor(workers=1, initializer=PluginsOfThisProcess())
    runs = MemoryRunStore()
    background = BackgroundBacktests(runs=runs, executor=executor, clock=StillClock())
    _, uc = await world(runs, background=background, inline_max_bars=10)
    try:
        placed = await uc.start(request("bollinger_breakout"), actor=CLI_OPERATOR)  # type: ignore[arg-type]
        failing = await uc.start(request("late_bug"), actor=CLI_OPERATOR)  # type: ignore[arg-type]
        assert isinstance(placed, BackgroundRun)
        assert isinstance(failing, BackgroundRun)
        for _ in range(600):
            if placed.done and failing.done:
                break
            await asyncio.sleep(0.05)
        assert placed.state == "done", placed.error
        stored = await runs.get(placed.id)
        assert stored.meta.strategy == "bollinger_breakout"
        assert failing.state == "failed"
        assert failing.error is not None
        assert "StrategyFailed: strategy late_bug failed" in failing.error
        assert "raise KeyError" in failing.error
    finally:
        await background.close()
