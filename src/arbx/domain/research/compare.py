"""Compare stored runs (A/B): metrics side by side with their differences, equity on one
time axis, and the Jobson-Korkie-Memmel test of each Sharpe difference on the overlap.

Runs over different spans, or that read different data (series or bar fingerprints), are
compared on the bars every run has inside the overlap of their spans (timestamps present in
all curves), and the answer says so. The test uses bar returns of the equity marked at each
close on those common bars; the first run is the reference (differences are other - first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np

from arbx.domain.backtest.kernels import FloatArray, IntArray
from arbx.domain.backtest.metrics import YEAR_MS
from arbx.domain.backtest.run import RunMeta
from arbx.domain.errors import InvalidInput
from arbx.domain.research.sharpe_test import SharpeDifference, jobson_korkie_memmel

COMPARED = (
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "trade_count",
    "exposure",
    "fees_paid",
    "final_equity",
)
MAX_RUNS = 10


@dataclass(frozen=True)
class RunCurve:
    meta: RunMeta
    ts: IntArray  # epoch ms of each bar's open
    equity: FloatArray


class RunColumn(msgspec.Struct, frozen=True):
    id: str
    strategy: str
    params: dict[str, Any]
    span_start: datetime
    span_end: datetime
    series: list[str]
    metrics: dict[str, float | int | None]
    differences: dict[str, float | None]  # this run minus the first


class PairTest(msgspec.Struct, frozen=True):
    a: str
    b: str
    test: SharpeDifference


class Comparison(msgspec.Struct, frozen=True):
    runs: list[RunColumn]
    overlap_start: datetime | None
    overlap_end: datetime | None
    overlap_bars: int
    tests: list[PairTest]
    equity_ts: list[datetime]
    equity: dict[str, list[float | None]]
    same_span: bool
    same_data: bool
    notes: list[str]


def _metrics(meta: RunMeta) -> dict[str, float | int | None]:
    return {name: getattr(meta.metrics, name) for name in COMPARED}


def _diff(a: float | int | None, b: float | int | None) -> float | None:
    if a is None or b is None:
        return None
    return float(b) - float(a)


def _instant(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _returns(equity: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(equity[:-1] != 0, equity[1:] / equity[:-1] - 1.0, 0.0)
    return np.asarray(r, dtype=np.float64)


def compare_runs(curves: list[RunCurve], max_points: int = 5000) -> Comparison:
    if len(curves) < 2:
        raise InvalidInput("compare needs at least two run ids", field="ids")
    if len(curves) > MAX_RUNS:
        raise InvalidInput(f"compare takes at most {MAX_RUNS} runs", field="ids")
    ids = [c.meta.id for c in curves]
    if len(set(ids)) != len(ids):
        raise InvalidInput("a run id is listed twice", field="ids")
    notes: list[str] = []
    first = curves[0]
    spans = {(c.meta.span_start, c.meta.span_end) for c in curves}
    same_span = len(spans) == 1
    prints = {tuple(sorted((s.series, s.sha256 or "") for s in c.meta.series)) for c in curves}
    same_data = len(prints) == 1
    starts = [int(c.ts[0]) for c in curves if c.ts.size]
    ends = [int(c.ts[-1]) for c in curves if c.ts.size]
    common = first.ts
    for c in curves[1:]:
        common = np.intersect1d(common, c.ts, assume_unique=True)
    lo, hi = (max(starts), min(ends)) if len(starts) == len(curves) else (0, -1)
    common = common[(common >= lo) & (common <= hi)]
    if not same_span:
        notes.append(
            "the runs cover different spans: the Sharpe test uses only their overlap"
            + (
                f" ({_instant(lo):%Y-%m-%d %H:%M} .. {_instant(hi):%Y-%m-%d %H:%M} UTC)"
                if hi >= lo
                else ""
            )
        )
    if not same_data:
        notes.append(
            "the runs read different data (series or bar fingerprints differ): the Sharpe"
            " test uses only the bars all of them have"
        )
    tests: list[PairTest] = []
    if common.size >= 4:
        years = (int(common[-1]) - int(common[0])) / YEAR_MS
        ppy = (common.size - 1) / years if years > 0 else None
        aligned = []
        for c in curves:
            idx = np.searchsorted(c.ts, common)
            aligned.append(_returns(c.equity[idx]))
        for k in range(1, len(curves)):
            test = jobson_korkie_memmel(aligned[0], aligned[k], periods_per_year=ppy)
            tests.append(PairTest(ids[0], ids[k], test))
    else:
        notes.append(f"the runs share {common.size} bars: too few for a Sharpe test (at least 4)")
    # one time axis: every bar of any run, thinned evenly to at most max_points
    axis = np.unique(np.concatenate([c.ts for c in curves]))
    if axis.size > max_points:
        keep = np.unique(np.linspace(0, axis.size - 1, max_points).astype(np.int64))
        axis = axis[keep]
        notes.append(f"equity curves thinned to {axis.size:,} points of the common axis")
    equity: dict[str, list[float | None]] = {}
    for c in curves:
        pos = np.searchsorted(c.ts, axis)
        found = (pos < c.ts.size) & (c.ts[np.minimum(pos, c.ts.size - 1)] == axis)
        values = (
            c.equity[np.minimum(pos, max(c.ts.size - 1, 0))] if c.ts.size else np.zeros(axis.size)
        )
        equity[c.meta.id] = [float(v) if ok else None for v, ok in zip(values, found, strict=True)]
    base = _metrics(first.meta)
    columns = []
    for c in curves:
        m = _metrics(c.meta)
        columns.append(
            RunColumn(
                c.meta.id,
                c.meta.strategy,
                c.meta.params,
                c.meta.span_start,
                c.meta.span_end,
                [s.series for s in c.meta.series],
                m,
                {name: _diff(base[name], m[name]) for name in COMPARED},
            )
        )
    return Comparison(
        runs=columns,
        overlap_start=_instant(int(common[0])) if common.size else None,
        overlap_end=_instant(int(common[-1])) if common.size else None,
        overlap_bars=int(common.size),
        tests=tests,
        equity_ts=[_instant(int(t)) for t in axis],
        equity=equity,
        same_span=same_span,
        same_data=same_data,
        notes=notes,
    )
