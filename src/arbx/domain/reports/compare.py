"""The comparison of several runs: equity (as a multiple of each run's capital) and drawdown
on one time axis, metrics and parameters side by side."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from arbx.domain.backtest.run import RunMeta
from arbx.domain.reports.backtest import PALETTE, currency_of
from arbx.domain.reports.downsample import DEFAULT_POINTS, minmax_indices
from arbx.domain.reports.figures import METRIC_ROWS, cell
from arbx.domain.reports.model import Block, Paragraphs, Report, Section, Table, TimeChart, Trace


def _label(meta: RunMeta, k: int) -> str:
    params = ",".join(f"{k}={v}" for k, v in meta.params.items())
    return f"#{k + 1} {meta.strategy}({params}) {meta.id[:8]}"


def _on_one_axis(
    curves: Sequence[tuple[np.ndarray, np.ndarray]], points: int
) -> tuple[list[float], list[list[float | None]]]:
    """Each (ts seconds, values) cut to ``points`` by its own extremes, then placed on the
    union of the kept times (None where a run has no kept point)."""
    kept = []
    for ts, values in curves:
        idx = minmax_indices(values, points) if values.size else np.zeros(0, dtype=np.int64)
        kept.append((ts[idx], values[idx]))
    axis = np.unique(np.concatenate([ts for ts, _ in kept])) if kept else np.zeros(0)
    columns: list[list[float | None]] = []
    for ts, values in kept:
        column: list[float | None] = [None] * axis.size
        for pos, v in zip(np.searchsorted(axis, ts).tolist(), values.tolist(), strict=True):
            column[pos] = float(v) if np.isfinite(v) else None
        columns.append(column)
    return [float(v) for v in axis.tolist()], columns


def comparison_report(
    runs: Sequence[tuple[RunMeta, pl.DataFrame]],
    *,
    points: int = DEFAULT_POINTS,
    generated_by: str = "",
) -> Report:
    """``runs``: each run's meta and curve table, in the order to show them."""
    labels = [_label(meta, k) for k, (meta, _) in enumerate(runs)]
    share = max(400, points // max(1, len(runs)))
    growth, drawdowns = [], []
    for meta, curve in runs:
        if curve.is_empty():
            growth.append((np.zeros(0), np.zeros(0)))
            drawdowns.append((np.zeros(0), np.zeros(0)))
            continue
        ts = curve["ts"].dt.epoch("ms").to_numpy().astype(np.float64) / 1000.0
        equity = curve["equity"].to_numpy()
        growth.append((ts, equity / meta.capital if meta.capital else equity))
        drawdowns.append((ts, -np.abs(curve["drawdown"].to_numpy())))
    x, columns = _on_one_axis(growth, share)
    dx, dcolumns = _on_one_axis(drawdowns, share)
    colors = [PALETTE[k % len(PALETTE)] for k in range(len(runs))]
    charts: list[Block] = [
        TimeChart(
            "compare_equity",
            "Equity as a multiple of the capital",
            x,
            [
                Trace(label, col, "line", c)
                for label, col, c in zip(labels, columns, colors, strict=True)
            ],
            y_label="x capital",
            points_total=sum(ts.size for ts, _ in growth),
        ),
        TimeChart(
            "compare_drawdown",
            "Drawdown",
            dx,
            [
                Trace(label, col, "line", c)
                for label, col, c in zip(labels, dcolumns, colors, strict=True)
            ],
            y_label="% from peak",
            percent=True,
            points_total=sum(ts.size for ts, _ in drawdowns),
        ),
    ]
    rows = [
        [label, unit.replace("{ccy}", "run currency")]
        + [cell(getattr(meta.metrics, name), kind) for meta, _ in runs]
        for label, name, kind, unit in METRIC_ROWS
    ]
    excess = ["excess over benchmark", "% of capital"] + [
        cell(meta.excess_return, "%") for meta, _ in runs
    ]
    metrics = Table(
        "compare_metrics",
        "Metrics side by side",
        ["metric", "unit", *labels],
        [*rows, excess],
        numeric=[False, False, *([True] * len(runs))],
    )
    names = sorted({name for meta, _ in runs for name in meta.params})
    described = [
        ["strategy", ""] + [meta.strategy for meta, _ in runs],
        ["series", ""] + [", ".join(s.series for s in meta.series) for meta, _ in runs],
        ["span", "UTC"]
        + [
            f"{meta.span_start:%Y-%m-%d %H:%M} .. {meta.span_end:%Y-%m-%d %H:%M}"
            for meta, _ in runs
        ],
        ["engine", ""]
        + [f"{meta.engine} {meta.engine_version}, fill {meta.fill}" for meta, _ in runs],
        ["capital", ""] + [f"{meta.capital:,.2f} {currency_of(meta)}" for meta, _ in runs],
        *(
            [f"param {name}", ""] + [str(meta.params.get(name, "-")) for meta, _ in runs]
            for name in names
        ),
        ["run id", ""] + [meta.id for meta, _ in runs],
    ]
    setup = Table("compare_setup", "Runs", ["", "", *labels], described)
    warnings = [
        f"{label}: {note}"
        for label, (meta, _) in zip(labels, runs, strict=True)
        for note in meta.notes
    ]
    sections = [
        Section("Runs", [setup]),
        Section("Equity and drawdown", charts),
        Section("Metrics", [metrics]),
    ]
    if warnings:
        sections.append(
            Section("Notes", [Paragraphs("compare_notes", "Notes of the runs", warnings)])
        )
    return Report(
        f"Comparison of {len(runs)} backtests",
        "; ".join(labels),
        sections,
        generated_by=generated_by,
    )
