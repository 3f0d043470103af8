"""Use cases around backtests: run one (validate, load bars, compute, store) and query runs.

The HTTP layer may split a run in three so large ones go to a process pool:
``prepared = await uc.prepare(request)`` (validation and loading, raises ``InvalidInput``),
``result = compute(prepared)`` (pure and picklable: run it in a worker process), then
``run = await uc.store(prepared, result)``. ``execute`` does all three in-process.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from arbx.domain.backtest.request import BacktestRequest, ValidRequest, validate_request
from arbx.domain.backtest.result import BacktestResult
from arbx.domain.backtest.run import BacktestRun, RunSummary, SeriesUsed, TableName
from arbx.domain.backtest.runner import run as run_engine
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey
from arbx.ports.bar_store import BarStore
from arbx.ports.clock import Clock
from arbx.ports.run_store import RunStore


@dataclass(frozen=True)
class PreparedBacktest:
    """A validated request with its bars loaded (cut to the span).

    Picklable (plain request and frames), so ``compute`` can run in a worker process; the
    validation is redone there from the request (cheap and deterministic).
    """

    request: BacktestRequest
    bars: dict[SeriesKey, pl.DataFrame]

    @property
    def valid(self) -> ValidRequest:
        return validate_request(self.request)

    @property
    def bar_count(self) -> int:
        """Rows across every series: the size the caller uses to pick sync vs background."""
        return sum(frame.height for frame in self.bars.values())


def compute(prepared: PreparedBacktest) -> BacktestResult:
    """Run the engine (CPU only; safe to call in a worker process)."""
    return run_engine(prepared.valid, prepared.bars)


class RunBacktest:
    def __init__(
        self,
        bars: BarStore,
        runs: RunStore,
        clock: Clock,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._bars = bars
        self._runs = runs
        self._clock = clock
        self._new_id = new_id

    async def prepare(self, request: BacktestRequest) -> PreparedBacktest:
        """Validate ``request`` and load its bars; ``InvalidInput`` names what is wrong
        (unknown strategy or parameter, start >= end, a series without data in the span,
        fewer bars than the strategy's lookback, negative capital or fees...)."""
        valid = validate_request(request)
        loaded: dict[SeriesKey, pl.DataFrame] = {}
        need = valid.strategy.lookback(valid.params)
        for key in valid.all_keys():
            frame = await self._bars.read(key, valid.span)
            if frame.is_empty():
                raise InvalidInput(f"series {key} has no data in {valid.span}", field="series")
            if key in valid.keys and frame.height < need:
                raise InvalidInput(
                    f"series {key} has {frame.height} bars in the span but"
                    f" {valid.strategy.name} needs at least {need} (its lookback)",
                    field="series",
                )
            loaded[key] = frame
        return PreparedBacktest(request, loaded)

    async def store(self, prepared: PreparedBacktest, result: BacktestResult) -> BacktestRun:
        used = [
            SeriesUsed(str(key), frame.height, frame["ts"][0], frame["ts"][-1])
            for key, frame in prepared.bars.items()
        ]
        valid = prepared.valid
        run = BacktestRun.of(
            self._new_id(),
            self._clock.now(),
            valid.request,
            valid.params,
            (valid.span.start, valid.span.end),
            used,
            result,
        )
        await self._runs.save(run)
        return run

    async def execute(self, request: BacktestRequest) -> BacktestRun:
        prepared = await self.prepare(request)
        return await self.store(prepared, compute(prepared))

    async def rerun(self, run_id: str) -> BacktestRun:
        """Run a stored run's request again (same data gives the same result, bit for bit)."""
        stored = await self._runs.get(run_id)
        return await self.execute(stored.meta.request)


class BacktestRuns:
    """Queries over stored runs (list, show, one table, delete)."""

    def __init__(self, runs: RunStore) -> None:
        self._runs = runs

    async def list(
        self, *, strategy: str | None = None, limit: int = 100
    ) -> builtins.list[RunSummary]:
        if limit < 1 or limit > 1000:
            raise InvalidInput("limit must be between 1 and 1000", field="limit")
        return await self._runs.list(strategy=strategy, limit=limit)

    async def get(self, run_id: str) -> BacktestRun:
        return await self._runs.get(run_id)

    async def table(self, run_id: str, name: TableName) -> pl.DataFrame:
        return await self._runs.table(run_id, name)

    async def delete(self, run_id: str) -> None:
        await self._runs.delete(run_id)
