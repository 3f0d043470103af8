"""The report of a walk-forward analysis: the folds (train and test spans), in-sample
against out-of-sample per fold, the chosen parameters per fold and how often each recurs,
the stitched out-of-sample equity with its metrics, and the walk-forward efficiency.

It reads any result shaped like ``WalkForwardResult`` (the ``WalkForwardLike`` protocol
below), computed in this process or read back from a store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import msgspec
import numpy as np

from arbx.domain.backtest.metrics import Metrics
from arbx.domain.reports.backtest import BLUE, ORANGE
from arbx.domain.reports.downsample import DEFAULT_POINTS
from arbx.domain.reports.figures import metrics_table, time_chart
from arbx.domain.reports.model import (
    Block,
    Paragraphs,
    Preformatted,
    Report,
    Section,
    Span,
    Table,
    Timeline,
    TimelineRow,
    Trace,
    XYChart,
    XYSeries,
)
from arbx.domain.reports.study import FRACTIONS, objective_text
from arbx.domain.research.objective import Objective, TrialMetrics


class FoldLike(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def train_start(self) -> datetime: ...
    @property
    def train_end(self) -> datetime: ...
    @property
    def test_start(self) -> datetime: ...
    @property
    def test_end(self) -> datetime: ...
    @property
    def params(self) -> dict[str, Any] | None: ...
    @property
    def in_sample(self) -> TrialMetrics | None: ...
    @property
    def out_of_sample(self) -> TrialMetrics | None: ...
    @property
    def in_sample_value(self) -> float | None: ...
    @property
    def out_of_sample_value(self) -> float | None: ...
    @property
    def efficiency(self) -> float | None: ...
    @property
    def trials(self) -> int: ...
    @property
    def error(self) -> str | None: ...


class WalkForwardLike(Protocol):
    @property
    def strategy(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def objective(self) -> Objective: ...
    @property
    def folds(self) -> Sequence[FoldLike]: ...
    @property
    def oos_metrics(self) -> Metrics: ...
    @property
    def oos_equity(self) -> Sequence[float]: ...
    @property
    def oos_ts(self) -> Sequence[datetime]: ...
    @property
    def efficiency(self) -> float | None: ...
    @property
    def stability(self) -> Mapping[str, Mapping[str, int]]: ...
    @property
    def notes(self) -> Sequence[str]: ...


def _when(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M}"


def _pct(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value * 100:,.2f}%"


def _params(params: Mapping[str, Any] | None) -> str:
    return "-" if params is None else ", ".join(f"{k}={v}" for k, v in params.items())


# figures of the chained equity alone (the trade figures are per fold, in the folds table)
EQUITY_ROWS = frozenset(
    {
        "total return",
        "CAGR",
        "annual volatility",
        "Sharpe",
        "Sortino",
        "Calmar",
        "max drawdown",
        "max drawdown duration",
        "VaR 95%",
        "CVaR 95%",
        "final equity",
        "bars",
        "span",
    }
)


def oos_metrics_table(result: WalkForwardLike, currency: str) -> Table:
    full = metrics_table(
        result.oos_metrics, None, currency=currency, benchmark_name="", table_id="oos_metrics"
    )
    rows = [row[:3] for row in full.rows if row[0] in EQUITY_ROWS]
    note = "; ".join(p for p in (full.note, "computed on the chained test-fold equity") if p)
    return Table(
        "oos_metrics",
        "Out-of-sample metrics",
        ["metric", "unit", "out of sample"],
        rows,
        note=note,
        numeric=[False, False, True],
    )


def folds_table(result: WalkForwardLike) -> Table:
    metric = result.objective.metric
    rows = []
    for f in result.folds:
        is_ret = None if f.in_sample is None else f.in_sample.total_return
        oos_ret = None if f.out_of_sample is None else f.out_of_sample.total_return
        rows.append(
            [
                str(f.index),
                f"{_when(f.train_start)} .. {_when(f.train_end)}",
                f"{_when(f.test_start)} .. {_when(f.test_end)}",
                f"{f.trials:,}",
                _params(f.params),
                objective_text(f.in_sample_value, metric),
                objective_text(f.out_of_sample_value, metric),
                _pct(is_ret),
                _pct(oos_ret),
                "-" if f.efficiency is None else f"{f.efficiency:.3f}",
                f.error or "",
            ]
        )
    return Table(
        "folds",
        "Folds",
        [
            "fold",
            "train (UTC, end exclusive)",
            "test (UTC, end exclusive)",
            "trials",
            "chosen parameters",
            f"IS {metric}",
            f"OOS {metric}",
            "IS return",
            "OOS return",
            "efficiency",
            "error",
        ],
        rows,
        note="IS: the best trial of the train fold; OOS: those parameters on the test fold after it",
        numeric=[True, False, False, True, False, True, True, True, True, True, False],
    )


def _seconds(value: datetime) -> float:
    return value.timestamp()


def fold_timeline(result: WalkForwardLike) -> Timeline:
    rows = [
        TimelineRow(
            f"fold {f.index}",
            [
                Span(
                    _seconds(f.train_start), _seconds(f.train_end), "train", f"fold {f.index} train"
                ),
                Span(_seconds(f.test_start), _seconds(f.test_end), "test", f"fold {f.index} test"),
            ],
        )
        for f in result.folds
    ]
    return Timeline("fold_spans", "Train and test spans", rows)


def in_vs_out(result: WalkForwardLike) -> XYChart:
    """The objective in and out of sample per fold, on the fold numbers."""
    metric = result.objective.metric
    folds = list(result.folds)
    x = [float(k) for k in range(len(folds))]

    def tips(kind: str, values: list[float | None]) -> list[str]:
        return [
            f"fold {f.index} {kind}: {metric} {objective_text(v, metric)}; {_params(f.params)}"
            for f, v in zip(folds, values, strict=True)
        ]

    is_values = [f.in_sample_value for f in folds]
    oos_values = [f.out_of_sample_value for f in folds]
    return XYChart(
        "in_vs_out",
        f"{metric} in sample and out of sample per fold",
        [
            XYSeries("in sample (train)", x, is_values, BLUE, "line", tips("IS", is_values)),
            XYSeries(
                "out of sample (test)", x, oos_values, ORANGE, "line", tips("OOS", oos_values)
            ),
        ],
        x_label="fold",
        y_label=metric + (" (fraction)" if metric in FRACTIONS else ""),
        x_ticks=[str(f.index) for f in folds],
    )


def stability_table(result: WalkForwardLike) -> Table:
    rows = [
        [name, value, f"{count:,}", f"{count / max(1, len(result.folds)) * 100:.0f}%"]
        for name, counts in result.stability.items()
        for value, count in counts.items()
    ]
    return Table(
        "stability",
        "How often each chosen value recurs",
        ["parameter", "value", "folds", "share of folds"],
        rows,
        note="stable parameters recur across folds; a different winner per fold is a warning sign",
        numeric=[False, False, True, True],
    )


def equity_block(result: WalkForwardLike, points: int) -> Block:
    if not result.oos_equity:
        return Paragraphs(
            "oos_equity", "Out-of-sample equity", ["no fold produced an equity curve"]
        )
    x = np.asarray([_seconds(t) for t in result.oos_ts], dtype=np.float64)
    equity = np.asarray(result.oos_equity, dtype=np.float64)
    return time_chart(
        "oos_equity",
        "Out-of-sample equity, test folds chained",
        x,
        [(Trace("out-of-sample equity", [], "line", BLUE), equity)],
        points=points,
        note="each test fold starts from the previous fold's final equity",
    )


def manifest(
    result: WalkForwardLike,
    request: Mapping[str, Any] | None,
    engine_version: str,
    generated_by: str,
) -> Preformatted:
    body = {
        "strategy": result.strategy,
        "method": result.method,
        "objective": result.objective,
        "folds": [
            {
                "index": f.index,
                "train": [f.train_start, f.train_end],
                "test": [f.test_start, f.test_end],
                "params": f.params,
            }
            for f in result.folds
        ],
        "request": request,
        "engine_version": engine_version,
        "generated_by": generated_by,
    }
    text = msgspec.json.format(msgspec.json.encode(body), indent=2).decode()
    return Preformatted(
        "manifest",
        "Walk-forward manifest",
        text,
        note="the same request on the same data gives the same folds and choices",
    )


def walk_forward_report(
    result: WalkForwardLike,
    *,
    request: Mapping[str, Any] | None = None,
    engine_version: str = "",
    currency: str = "",
    points: int = DEFAULT_POINTS,
    generated_by: str = "",
) -> Report:
    o = result.objective
    eff = "-" if result.efficiency is None else f"{result.efficiency:.3f}"
    failed = [f for f in result.folds if f.error]
    lines = [
        f"strategy {result.strategy}; {result.method} search per train fold, {o.direction} {o.metric}",
        f"{len(result.folds)} folds"
        + (f", {len(failed)} without a result" if failed else "")
        + f"; walk-forward efficiency {eff} (mean OOS / IS annualized return)",
        *result.notes,
    ]
    sections = [
        Section(
            "Overview",
            [
                Paragraphs("overview", "Walk-forward", lines, warn=bool(failed)),
                oos_metrics_table(result, currency),
            ],
        ),
        Section("Folds", [fold_timeline(result), folds_table(result)]),
        Section("In sample and out of sample", [in_vs_out(result)]),
        Section("Out-of-sample equity", [equity_block(result, points)]),
        Section("Chosen parameters", [stability_table(result)]),
        Section("Reproducibility", [manifest(result, request, engine_version, generated_by)]),
    ]
    return Report(
        f"Walk-forward {result.strategy}",
        f"{len(result.folds)} folds, {o.direction} {o.metric}; efficiency {eff}",
        sections,
        generated_by=generated_by,
    )
