"""Studies and trials: what is stored of an optimization, plain msgspec data.

A study keeps everything needed to run it again and get the same trials: the strategy, the
base backtest request (the effective one: fees and venue rules written in), the search
space, the objective, the method and its seed, the data fingerprints and the engine
version. A trial keeps its number, parameters, seed, status, metrics and ``returns``: the
trial's returns over ``RETURN_BUCKETS`` equal slices of the span (what the deflated Sharpe
ratio and PBO are computed from).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
import numpy as np

from arbx.domain.backtest.kernels import FloatArray
from arbx.domain.backtest.run import SeriesUsed
from arbx.domain.research.holder import Holder
from arbx.domain.research.objective import Objective, TrialMetrics
from arbx.domain.research.space import SearchSpace

Method = Literal["grid", "random", "bayes"]
METHODS: tuple[str, ...] = Method.__args__  # type: ignore[attr-defined]
StudyStatus = Literal["running", "interrupted", "done", "failed"]
TrialStatus = Literal["done", "failed"]
RETURN_BUCKETS = 256


class Study(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    created_at: datetime
    strategy: str
    method: Method
    space: SearchSpace
    objective: Objective
    request: dict[str, Any]
    n_trials: int
    seed: int
    engine_version: str
    series: list[SeriesUsed] = msgspec.field(default_factory=list)
    status: StudyStatus = "running"
    owner: str | None = None
    error: str | None = None
    refused_points: int = 0
    updated_at: datetime | None = None
    # the process running it while ``running`` (domain.research.holder): a study whose
    # holder is gone is shown ``interrupted``
    holder: Holder | None = None
    # the catalog version the strategy came from (``name@vN``), when it came from one
    strategy_version: str | None = None


def guard(
    holder: Holder | None, updated_at: datetime | None
) -> tuple[str | None, str | None, str | None]:
    """What a conditional change of stored running work compares: the holder's token and
    heartbeat and the time of the last update, as the JSON text stores them."""

    def text(moment: datetime | None) -> str | None:
        return None if moment is None else msgspec.json.encode(moment).decode().strip('"')

    if holder is None:
        return None, None, text(updated_at)
    return holder.token, text(holder.heartbeat_at), text(updated_at)


class Trial(msgspec.Struct, frozen=True, kw_only=True):
    study_id: str
    number: int
    params: dict[str, Any]
    seed: int
    status: TrialStatus
    metrics: TrialMetrics = TrialMetrics()
    value: float | None = None
    returns: list[float] = msgspec.field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    run_id: str | None = None


def bucket_returns(
    equity: FloatArray, capital: float, buckets: int = RETURN_BUCKETS
) -> list[float]:
    """Returns over ``buckets`` equal slices of the bars (fewer when there are fewer bars):
    ``E[end_i] / E[end_{i-1}] - 1`` with the capital before the first."""
    e = np.asarray(equity, dtype=np.float64)
    if e.size == 0:
        return []
    k = min(buckets, int(e.size))
    ends = np.linspace(0, e.size, k + 1).astype(np.int64)[1:] - 1
    marks = np.concatenate(([capital], e[ends]))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(marks[:-1] != 0, marks[1:] / marks[:-1] - 1.0, 0.0)
    return [float(x) for x in r]


def best_trial(trials: list[Trial], objective: Objective) -> Trial | None:
    """The feasible trial with the best value (lowest number first on ties)."""
    best: Trial | None = None
    for t in sorted(trials, key=lambda t: t.number):
        if t.status != "done" or t.value is None:
            continue
        if best is None or objective.better(t.value, best.value):  # type: ignore[arg-type]
            best = t
    return best
