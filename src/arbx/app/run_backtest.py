"""Use cases around backtests: run one (validate, load bars, compute, store) and query runs.

The HTTP layer may split a run in three so large ones go to a process pool:
``prepared = await uc.prepare(request)`` (validation and loading, raises ``InvalidInput``),
``result = compute(prepared)`` (pure and picklable: run it in a worker process), then
``run = await uc.store(prepared, result)``. ``execute`` does all three in-process.

With a ``QualityStore``, each series a run reads is scored (``SummarizeQuality``) and the
score is kept in the run's meta beside the gap count of the data used (the gap count needs
no store). ``default_fees`` (from config) fill in the fee schedule of venues the request
does not price itself; the stored request carries them, so a rerun uses the same fees.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import msgspec
import polars as pl

from arbx.app.validate_series import SummarizeQuality
from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.backtest.request import BacktestRequest, ValidRequest, validate_request
from arbx.domain.backtest.result import BacktestResult
from arbx.domain.backtest.run import BacktestRun, RunSummary, SeriesUsed, TableName
from arbx.domain.backtest.runner import run as run_engine
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.quality.gaps import missing_runs
from arbx.ports.bar_store import BarStore
from arbx.ports.clock import Clock
from arbx.ports.quality_store import QualityStore
from arbx.ports.run_store import RunStore


@dataclass(frozen=True)
class DataQuality:
    """The quality of one series over the bars a run read."""

    gaps: int
    bars_missing: int
    score: float | None


@dataclass(frozen=True)
class PreparedBacktest:
    """A validated request with its bars loaded (cut to the span).

    Picklable (plain request and frames), so ``compute`` can run in a worker process; the
    validation is redone there from the request (cheap and deterministic).
    """

    request: BacktestRequest
    bars: dict[SeriesKey, pl.DataFrame]
    quality: dict[SeriesKey, DataQuality] = field(default_factory=dict)

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
        *,
        quality: QualityStore | None = None,
        default_fees: Mapping[str, FeeSchedule] | None = None,
    ) -> None:
        self._bars = bars
        self._runs = runs
        self._clock = clock
        self._new_id = new_id
        self._quality = None if quality is None else SummarizeQuality(bars, quality)
        self._default_fees = dict(default_fees or {})

    def new_id(self) -> str:
        """A fresh run id (callers that answer before storing reserve one with this)."""
        return self._new_id()

    async def prepare(self, request: BacktestRequest) -> PreparedBacktest:
        """Validate ``request`` and load its bars; ``InvalidInput`` names what is wrong
        (unknown strategy or parameter, start >= end, a series without data in the span,
        fewer bars than the strategy's lookback, negative capital or fees...)."""
        request = self._with_default_fees(request)
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
        quality = {key: await self._data_quality(key, frame) for key, frame in loaded.items()}
        return PreparedBacktest(request, loaded, quality)

    def _with_default_fees(self, request: BacktestRequest) -> BacktestRequest:
        if not self._default_fees or self._default_fees.keys() <= request.fees.keys():
            return request
        return msgspec.structs.replace(request, fees={**self._default_fees, **request.fees})

    async def _data_quality(self, key: SeriesKey, frame: pl.DataFrame) -> DataQuality:
        """Gaps between the first and last bar read (the frame is canonical: sorted, unique,
        on the grid) and, with a quality store, the stored score over the same span."""
        step = key.timeframe.ms
        starts, ends = missing_runs(frame["ts"].dt.epoch("ms").to_numpy(), step)
        score = None
        if self._quality is not None:
            span = TimeSpan(frame["ts"][0], frame["ts"][-1] + key.timeframe.duration)
            score = (await self._quality.execute(key, span)).score.score
        return DataQuality(int(starts.size), int((ends - starts).sum()) // step, score)

    async def store(
        self,
        prepared: PreparedBacktest,
        result: BacktestResult,
        *,
        run_id: str | None = None,
        owner: str | None = None,
        shared: bool = False,
    ) -> BacktestRun:
        """Record a computed run (under ``run_id`` when the caller reserved one)."""
        used = []
        for key, frame in prepared.bars.items():
            q = prepared.quality.get(key)
            used.append(
                SeriesUsed(
                    str(key),
                    frame.height,
                    frame["ts"][0],
                    frame["ts"][-1],
                    gaps=None if q is None else q.gaps,
                    bars_missing=None if q is None else q.bars_missing,
                    quality_score=None if q is None else q.score,
                )
            )
        valid = prepared.valid
        run = BacktestRun.of(
            run_id or self._new_id(),
            self._clock.now(),
            valid.request,
            valid.params,
            (valid.span.start, valid.span.end),
            used,
            result,
        )
        if owner is not None or shared:
            run = BacktestRun(
                msgspec.structs.replace(run.meta, owner=owner, shared=shared), run.tables
            )
        await self._runs.save(run)
        return run

    async def execute(
        self, request: BacktestRequest, *, owner: str | None = None, shared: bool = False
    ) -> BacktestRun:
        prepared = await self.prepare(request)
        return await self.store(prepared, compute(prepared), owner=owner, shared=shared)

    async def rerun(self, run_id: str, *, owner: str | None = None) -> BacktestRun:
        """Run a stored run's request again (same data gives the same result, bit for bit)."""
        stored = await self._runs.get(run_id)
        return await self.execute(stored.meta.request, owner=owner)


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
