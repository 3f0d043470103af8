"""Walk-forward analysis: optimize on each train fold, evaluate the best parameters on the
test fold after it, stitch the out-of-sample equity.

Folds are cut on the bars of the first series (``domain.research.folds``: rolling or
anchored, train/test/step in bars, purge and embargo); every series is cut to the same time
spans. Each fold is one call on the ``Executor`` (the bars go to the workers once,
``Executor.share``): the search of the fold's train span (grid, random or TPE, as a study),
then one backtest of its best trial on the test span. Each test fold starts flat and warms
its indicators up inside the fold: no bar before the fold is read.

Reported: per fold the spans, the chosen parameters, the in-sample and out-of-sample
objective and metrics; the out-of-sample equity of all test folds chained (each fold starts
from the previous fold's final equity) and its metrics; walk-forward efficiency, the mean
over folds of OOS / IS annualized return (linear: ``total_return * 365 / span_days``); how
often each chosen parameter value recurs (stability). Nothing is stored.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np
import polars as pl

from arbx.app.optimize import (
    OptimizationRequest,
    OptimizeStudies,
    Plan,
    field_of,
    search_trials,
)
from arbx.domain.auth import Permission, Principal
from arbx.domain.auth.policy import require
from arbx.domain.backtest.metrics import Metrics, compute_metrics
from arbx.domain.backtest.runner import run as run_engine
from arbx.domain.errors import ArbxError, InvalidInput
from arbx.domain.market import SeriesKey
from arbx.domain.research.evaluate import StudyData, trial_metrics
from arbx.domain.research.folds import Fold, FoldMode, walk_forward_folds
from arbx.domain.research.objective import Objective, TrialMetrics
from arbx.domain.research.space import SearchSpace
from arbx.domain.research.study import Method, best_trial
from arbx.ports.executor import Executor, Shared


class WalkForwardRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An optimization request plus the folds (in bars of the first series)."""

    optimization: dict[str, Any]
    train: int
    test: int
    step: int | None = None
    mode: str = "rolling"
    purge: int = 0
    embargo: int = 0


def decode_walk_forward(raw: Mapping[str, Any] | bytes) -> WalkForwardRequest:
    try:
        data = msgspec.json.decode(raw) if isinstance(raw, bytes | bytearray) else dict(raw)
        return msgspec.convert(data, WalkForwardRequest, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid walk-forward request: {exc}", field=field_of(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the request is not valid JSON: {exc}", field="request") from None
    except (TypeError, ValueError):
        raise InvalidInput("a walk-forward request is a JSON object", field="request") from None


class FoldOut(msgspec.Struct, frozen=True):
    index: int
    train_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime
    params: dict[str, Any] | None
    in_sample: TrialMetrics | None
    out_of_sample: TrialMetrics | None
    in_sample_value: float | None
    out_of_sample_value: float | None
    efficiency: float | None
    trials: int
    error: str | None = None


class WalkForwardResult(msgspec.Struct, frozen=True):
    strategy: str
    method: str
    objective: Objective
    folds: list[FoldOut]
    oos_metrics: Metrics
    oos_equity: list[float]
    oos_ts: list[datetime]
    efficiency: float | None
    stability: dict[str, dict[str, int]]
    notes: list[str]


def _days(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86_400


def _annualized(m: TrialMetrics, span_days: float) -> float | None:
    if m.total_return is None or span_days <= 0:
        return None
    return m.total_return * 365.0 / span_days


def _cut(
    bars: Mapping[SeriesKey, pl.DataFrame], start: datetime, end: datetime
) -> dict[SeriesKey, pl.DataFrame]:
    return {k: f.filter((pl.col("ts") >= start) & (pl.col("ts") < end)) for k, f in bars.items()}


class _FoldTask(msgspec.Struct, frozen=True):
    fold: Fold
    train: tuple[datetime, datetime]
    test: tuple[datetime, datetime]
    space: SearchSpace
    method: Method
    n_trials: int
    seed: int


def run_fold(shared: Shared[StudyData], task: _FoldTask) -> tuple[FoldOut, list[float], list[int]]:
    """One fold in a worker: search the train span, run the best on the test span."""
    data = shared.get()
    f = task.fold
    train = StudyData(
        f"{data.study_id}-fold{f.index}",
        data.request,
        _cut(data.bars, *task.train),
        data.objective,
    )
    empty = FoldOut(f.index, *task.train, *task.test, None, None, None, None, None, None, 0)
    try:
        trials = search_trials(train, task.space, task.method, task.n_trials, task.seed)
    except ArbxError as exc:
        return msgspec.structs.replace(empty, error=exc.message), [], []
    best = best_trial(trials, data.objective)
    if best is None:
        reason = "no feasible trial in the train fold"
        return msgspec.structs.replace(empty, trials=len(trials), error=reason), [], []
    test_bars = _cut(data.bars, *task.test)
    try:
        result = run_engine(data.valid(best.params), test_bars)
    except ArbxError as exc:
        return msgspec.structs.replace(empty, params=best.params, error=exc.message), [], []
    capital = data.request.capital
    oos = trial_metrics(result.metrics, result.benchmark, capital)
    is_ann = _annualized(best.metrics, _days(*task.train))
    oos_ann = _annualized(oos, _days(*task.test))
    eff = None if not is_ann or oos_ann is None or is_ann <= 0 else oos_ann / is_ann
    out = FoldOut(
        f.index,
        *task.train,
        *task.test,
        best.params,
        best.metrics,
        oos,
        best.value,
        data.objective.value(oos),
        eff,
        len(trials),
    )
    curve = result.curve
    return out, curve["equity"].to_list(), curve["ts"].dt.epoch("ms").to_list()


class WalkForward:
    def __init__(self, studies: OptimizeStudies, executor: Executor) -> None:
        self._studies = studies
        self._executor = executor

    async def execute(
        self, request: WalkForwardRequest, *, actor: Principal, jobs: int = 2
    ) -> WalkForwardResult:
        require(actor, Permission.BACKTESTS_RUN)
        plan = await self._studies.plan(_optimization(request.optimization), actor=actor)
        if request.mode not in ("rolling", "anchored"):
            raise InvalidInput(
                f"mode must be rolling or anchored, got {request.mode!r}", field="mode"
            )
        mode: FoldMode = request.mode  # type: ignore[assignment]
        main = plan.prepared.bars[plan.prepared.valid.keys[0]]
        folds = walk_forward_folds(
            main.height,
            train=request.train,
            test=request.test,
            step=request.step,
            mode=mode,
            purge=request.purge,
            embargo=request.embargo,
        )
        ts = main["ts"]
        bar = plan.prepared.valid.keys[0].timeframe.duration

        def span(a: int, b: int) -> tuple[datetime, datetime]:
            return ts[a], ts[b - 1] + bar

        data = StudyData("walk-forward", plan.request, plan.prepared.bars, plan.objective)
        shared = self._executor.share(data)
        try:
            subs = [
                self._executor.submit(
                    run_fold,
                    shared,
                    _FoldTask(
                        f,
                        span(f.train_start, f.train_end),
                        span(f.test_start, f.test_end),
                        plan.space,
                        plan.method,
                        plan.n_trials,
                        plan.seed,
                    ),
                )
                for f in folds
            ]
            try:
                done = [await s.result() for s in subs]
            except asyncio.CancelledError:
                for s in subs:
                    s.cancel()
                raise
        finally:
            self._executor.release(shared)
        return _assemble(plan, done, bar.total_seconds() * 1000)


def _optimization(raw: dict[str, Any]) -> OptimizationRequest:
    try:
        return msgspec.convert(raw, OptimizationRequest, strict=False)
    except msgspec.ValidationError as exc:
        field = f"optimization.{field_of(exc)}"
        raise InvalidInput(f"invalid optimization: {exc}", field=field) from None


def _assemble(
    plan: Plan, done: list[tuple[FoldOut, list[float], list[int]]], bar_ms: float
) -> WalkForwardResult:
    capital = plan.request.capital
    level = capital
    equity: list[float] = []
    stamps: list[int] = []
    for _, curve, ts in done:
        if not curve:
            continue
        scale = level / capital
        equity.extend(v * scale for v in curve)
        stamps.extend(ts)
        level = equity[-1]
    eq = np.asarray(equity, dtype=np.float64)
    tsa = np.asarray(stamps, dtype=np.int64)
    metrics = compute_metrics(eq, capital, int(bar_ms), ts=tsa if tsa.size else None)
    folds = [f for f, _, _ in done]
    effs = [f.efficiency for f in folds if f.efficiency is not None]
    stability: dict[str, dict[str, int]] = {}
    for name in plan.space.names:
        counts = Counter(str(f.params[name]) for f in folds if f.params is not None)
        stability[name] = dict(counts.most_common())
    notes = [
        "each test fold starts flat; its indicators warm up inside the fold",
        "efficiency: mean over folds of out-of-sample / in-sample annualized return"
        " (folds with a positive in-sample return)",
    ]
    notes += [f"fold {f.index}: {f.error}" for f in folds if f.error]
    return WalkForwardResult(
        strategy=plan.request.strategy,
        method=plan.method,
        objective=plan.objective,
        folds=folds,
        oos_metrics=metrics,
        oos_equity=[float(v) for v in eq],
        oos_ts=[datetime.fromtimestamp(t / 1000, tz=UTC) for t in stamps],
        efficiency=float(np.mean(effs)) if effs else None,
        stability=stability,
        notes=notes,
    )
