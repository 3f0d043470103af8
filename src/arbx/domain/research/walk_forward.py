"""Walk-forward analyses as stored records: the plan, each fold's result, the assembled result.

A ``WalkForwardStudy`` keeps what is needed to run it again and get the same folds: the
strategy (and its catalog version), the effective base backtest request, the search space,
method, objective, trial count and seed of each fold's search, the fold layout (in bars of
the first series, and the time spans it gave), the data fingerprints and the engine version;
plus its status and holder as a study's. A ``WalkForwardFold`` is one fold's result, stored
when it finishes (so an interrupted walk-forward keeps its finished folds): the chosen
parameters, in-sample and out-of-sample objective and metrics, efficiency, and the fold's
out-of-sample equity curve. ``assemble`` makes the ``WalkForwardResult`` of the stored folds:
the out-of-sample equity of all test folds chained (each fold starts from the previous fold's
final equity) and its metrics, walk-forward efficiency (the mean over folds of OOS / IS
annualized return, linear: ``total_return * 365 / span_days``) and how often each chosen
parameter value recurs (stability).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
import numpy as np

from arbx.domain.backtest.metrics import Metrics, compute_metrics
from arbx.domain.backtest.run import SeriesUsed
from arbx.domain.research.folds import FoldMode
from arbx.domain.research.holder import Holder
from arbx.domain.research.objective import Objective, TrialMetrics
from arbx.domain.research.space import SearchSpace
from arbx.domain.research.study import Method

WalkForwardStatus = Literal["running", "interrupted", "done", "failed"]


class FoldSpan(msgspec.Struct, frozen=True):
    """A fold's train and test spans (half-open, UTC) and bar indices of the first series."""

    index: int
    train_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime
    bars: tuple[int, int, int, int] = (0, 0, 0, 0)  # train start/end, test start/end


class FoldOut(msgspec.Struct, frozen=True):
    """One fold's result: the chosen parameters, in-sample vs out-of-sample."""

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


class WalkForwardFold(msgspec.Struct, frozen=True, kw_only=True):
    """A fold as stored: its result and its out-of-sample equity (ts in epoch ms)."""

    walk_forward_id: str
    fold: FoldOut
    equity: list[float] = msgspec.field(default_factory=list)
    ts: list[int] = msgspec.field(default_factory=list)
    seconds: float = 0.0


class WalkForwardStudy(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    created_at: datetime
    strategy: str
    method: Method
    space: SearchSpace
    objective: Objective
    request: dict[str, Any]  # the effective base backtest request (params: fixed values)
    n_trials: int  # trials of each fold's search
    seed: int
    mode: FoldMode
    train: int
    test: int
    step: int
    purge: int
    embargo: int
    folds: list[FoldSpan]
    bar_ms: int
    engine_version: str
    series: list[SeriesUsed] = msgspec.field(default_factory=list)
    strategy_version: str | None = None
    status: WalkForwardStatus = "running"
    owner: str | None = None
    error: str | None = None
    updated_at: datetime | None = None
    holder: Holder | None = None


class WalkForwardResult(msgspec.Struct, frozen=True, kw_only=True):
    """The assembled result of a walk-forward's stored folds (all of them when done)."""

    id: str
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
    strategy_version: str | None = None
    status: WalkForwardStatus = "done"


def assemble(wf: WalkForwardStudy, stored: Sequence[WalkForwardFold]) -> WalkForwardResult:
    capital = float(wf.request.get("capital", 10_000.0))
    level = capital
    equity: list[float] = []
    stamps: list[int] = []
    ordered = sorted(stored, key=lambda f: f.fold.index)
    for f in ordered:
        if not f.equity:
            continue
        scale = level / capital
        equity.extend(v * scale for v in f.equity)
        stamps.extend(f.ts)
        level = equity[-1]
    eq = np.asarray(equity, dtype=np.float64)
    tsa = np.asarray(stamps, dtype=np.int64)
    metrics = compute_metrics(eq, capital, wf.bar_ms, ts=tsa if tsa.size else None)
    folds = [f.fold for f in ordered]
    effs = [f.efficiency for f in folds if f.efficiency is not None]
    stability: dict[str, dict[str, int]] = {}
    for name in wf.space.names:
        counts = Counter(str(f.params[name]) for f in folds if f.params is not None)
        stability[name] = dict(counts.most_common())
    notes = [
        "each test fold starts flat; its indicators warm up inside the fold",
        "efficiency: mean over folds of out-of-sample / in-sample annualized return"
        " (folds with a positive in-sample return)",
    ]
    if len(folds) < len(wf.folds):
        notes.append(f"{len(folds)} of {len(wf.folds)} folds finished")
    notes += [f"fold {f.index}: {f.error}" for f in folds if f.error]
    return WalkForwardResult(
        id=wf.id,
        strategy=wf.strategy,
        strategy_version=wf.strategy_version,
        method=wf.method,
        objective=wf.objective,
        folds=folds,
        oos_metrics=metrics,
        oos_equity=[float(v) for v in eq],
        oos_ts=[datetime.fromtimestamp(t / 1000, tz=UTC) for t in stamps],
        efficiency=float(np.mean(effs)) if effs else None,
        stability=stability,
        notes=notes,
        status=wf.status,
    )
