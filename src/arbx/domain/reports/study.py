"""The report of an optimization study, built from what the study stored: its space,
objective and manifest, its trials, and the overfitting diagnostics computed on them.

- Heatmaps of the objective over pairs of searched parameters: a cell holds the best
  feasible trial with those two values (the best over the other parameters when there are
  more than two); many distinct values (random and Bayesian searches) are cut into equal
  bins (geometric for a log range).
- Each parameter against the objective (every feasible trial a point, the best marked), and
  the objective by trial number with the best so far (how the search converged).
- The best trial, the top trials as a table (exact values), the deflated Sharpe ratio and
  PBO where they were computed, and the study's manifest (search space, method and seed,
  base request, data fingerprints, engine version).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import msgspec
import numpy as np

from arbx.domain.reports.backtest import BLUE, GREY, RED
from arbx.domain.reports.model import (
    Block,
    Heatmap,
    Histogram,
    Number,
    Paragraphs,
    Preformatted,
    Report,
    Section,
    Table,
    XYChart,
    XYSeries,
)
from arbx.domain.research.objective import Objective
from arbx.domain.research.overfitting import DeflatedSharpe, Pbo
from arbx.domain.research.space import Dimension
from arbx.domain.research.study import Study, Trial, best_trial

TOP_TRIALS = 50  # rows of the trials table by default
MAX_CELLS = 20  # distinct values of a heatmap axis before they are binned
BINS = 10
HEATMAP_DIMENSIONS = 3  # heatmaps for every pair of the first three searched parameters
FRACTIONS = frozenset({"total_return", "excess_return", "max_drawdown"})


def objective_text(value: float | None, metric: str) -> str:
    """An objective value as a table shows it: percent for returns, else a number."""
    if value is None or not math.isfinite(value):
        return "-"
    if metric in FRACTIONS:
        return f"{value * 100:,.2f}%"
    if metric == "net_pnl":
        return f"{value:,.2f}"
    return f"{value:,.4f}"


def _params(params: dict[str, Any], names: Sequence[str]) -> str:
    return ", ".join(f"{n}={params.get(n)}" for n in names)


def feasible(trials: Sequence[Trial]) -> list[Trial]:
    return [t for t in trials if t.status == "done" and t.value is not None]


def ranked(trials: Sequence[Trial], objective: Objective) -> list[Trial]:
    """Feasible trials best first (lowest number first on ties)."""
    return sorted(feasible(trials), key=lambda t: (-objective.signed(t.value or 0.0), t.number))


# -- axes of the heatmaps and scatters -------------------------------------------------------


class Axis(msgspec.Struct, frozen=True):
    """Where each value of one parameter falls: ``labels`` of the cells and, per trial,
    the cell index (``None`` for a value off the axis)."""

    name: str
    labels: list[str]
    binned: bool


def _numeric(dim: Dimension) -> bool:
    return dim.kind in ("int", "float") and not dim.choices


def _edges(values: list[float], dim: Dimension) -> np.ndarray:
    lo, hi = min(values), max(values)
    if dim.log and lo > 0:
        return np.geomspace(lo, hi, BINS + 1)
    return np.linspace(lo, hi, BINS + 1)


def axis_of(dim: Dimension, trials: Sequence[Trial]) -> tuple[Axis, list[int | None]]:
    """The axis of ``dim`` over ``trials`` and each trial's cell on it."""
    raw = [t.params.get(dim.name) for t in trials]
    distinct = list(dict.fromkeys(raw))
    if _numeric(dim):
        distinct.sort(key=lambda v: float(v) if isinstance(v, int | float) else math.inf)
    elif dim.choices:
        order = {repr(c): k for k, c in enumerate(dim.choices)}
        distinct.sort(key=lambda v: order.get(repr(v), len(order)))
    numbers = [float(v) for v in distinct if isinstance(v, int | float)]
    if not _numeric(dim) or len(distinct) <= MAX_CELLS or len(numbers) < len(distinct):
        where = {repr(v): k for k, v in enumerate(distinct)}
        return Axis(dim.name, [str(v) for v in distinct], False), [where[repr(v)] for v in raw]
    edges = _edges(numbers, dim)
    labels = [f"{edges[k]:.4g}..{edges[k + 1]:.4g}" for k in range(BINS)]
    cells: list[int | None] = []
    for v in raw:
        k = int(np.searchsorted(edges, float(v), side="right")) - 1  # type: ignore[arg-type,call-overload]
        cells.append(min(max(k, 0), BINS - 1))
    return Axis(dim.name, labels, True), cells


def objective_heatmap(
    study: Study, trials: Sequence[Trial], rows: Dimension, columns: Dimension
) -> Heatmap:
    """The best objective per (row value, column value) over the feasible trials."""
    done = feasible(trials)
    row_axis, row_of = axis_of(rows, done)
    col_axis, col_of = axis_of(columns, done)
    grid: list[list[Number]] = [[None] * len(col_axis.labels) for _ in row_axis.labels]
    objective = study.objective
    for t, r, c in zip(done, row_of, col_of, strict=True):
        if r is None or c is None or t.value is None:
            continue
        held = grid[r][c]
        if held is None or objective.better(t.value, held):
            grid[r][c] = t.value
    others = [d.name for d in study.space.dimensions if d.name not in (rows.name, columns.name)]
    notes = [f"each cell: the best {objective.metric} of the feasible trials with those values"]
    if others:
        notes.append(f"over every value of {', '.join(others)}")
    if row_axis.binned or col_axis.binned:
        notes.append(f"many distinct values are cut into {BINS} bins")
    notes.append("green: the best values, red: the worst; empty: no feasible trial there")
    metric = objective.metric
    return Heatmap(
        f"heatmap_{rows.name}_{columns.name}",
        f"{metric} by {rows.name} and {columns.name}",
        row_axis.labels,
        col_axis.labels,
        grid,
        note="; ".join(notes),
        row_title=rows.name,
        column_title=columns.name,
        percent=metric in FRACTIONS,
        digits=2 if metric in FRACTIONS or metric == "net_pnl" else 3,
        scale_columns=None,
        invert=objective.direction == "minimize",
        relative=True,
    )


def heatmap_blocks(study: Study, trials: Sequence[Trial]) -> list[Block]:
    dims = list(study.space.dimensions)
    if len(dims) < 2:
        names = ", ".join(d.name for d in dims) or "none"
        return [
            Paragraphs(
                "heatmap",
                "Parameter heatmap",
                [f"a heatmap needs two searched parameters; this study searched {names}"],
            )
        ]
    if not feasible(trials):
        return [Paragraphs("heatmap", "Parameter heatmap", ["no feasible trial yet"])]
    pairs = list(combinations(dims[:HEATMAP_DIMENSIONS], 2))
    return [objective_heatmap(study, trials, a, b) for a, b in pairs]


def _tip(t: Trial, names: Sequence[str], metric: str) -> str:
    return f"trial {t.number}: {_params(t.params, names)} -> {metric} {objective_text(t.value, metric)}"


def parameter_scatter(study: Study, trials: Sequence[Trial], dim: Dimension) -> XYChart:
    """One point per feasible trial: the parameter's value against the objective; the best
    trial in red. A choice (or bool) parameter sits on categorical positions."""
    done = feasible(trials)
    names = study.space.names
    metric = study.objective.metric
    best = best_trial(list(trials), study.objective)
    ticks: list[str] = []
    if _numeric(dim):
        xs = [float(t.params.get(dim.name, math.nan)) for t in done]
    else:
        axis, cells = axis_of(dim, done)
        ticks = axis.labels
        xs = [float(c) if c is not None else math.nan for c in cells]
    best_number = None if best is None else best.number
    keep = [
        (x, t)
        for x, t in zip(xs, done, strict=True)
        if t.number != best_number and math.isfinite(x)
    ]
    series = [
        XYSeries(
            "feasible trials",
            [x for x, _ in keep],
            [t.value for _, t in keep],
            BLUE,
            tips=[_tip(t, names, metric) for _, t in keep],
        )
    ]
    if best is not None:
        x = next((x for x, t in zip(xs, done, strict=True) if t.number == best.number), None)
        if x is not None and math.isfinite(x):
            series.append(
                XYSeries(
                    f"best (trial {best.number})",
                    [x],
                    [best.value],
                    RED,
                    tips=[_tip(best, names, metric)],
                )
            )
    return XYChart(
        f"scatter_{dim.name}",
        f"{dim.name} against {metric}",
        series,
        x_label=dim.name,
        y_label=metric,
        x_ticks=ticks,
        log_x=dim.log and _numeric(dim),
    )


def progress_chart(study: Study, trials: Sequence[Trial]) -> XYChart:
    """The objective of each feasible trial by its number, and the best so far."""
    objective = study.objective
    done = sorted(feasible(trials), key=lambda t: t.number)
    best_x: list[float] = []
    best_y: list[Number] = []
    level: float | None = None
    for t in done:
        assert t.value is not None
        if level is None or objective.better(t.value, level):
            level = t.value
        best_x.append(float(t.number))
        best_y.append(level)
    names = study.space.names
    return XYChart(
        "progress",
        f"{objective.metric} by trial number",
        [
            XYSeries(
                "trial",
                [float(t.number) for t in done],
                [t.value for t in done],
                GREY,
                tips=[_tip(t, names, objective.metric) for t in done],
            ),
            XYSeries("best so far", best_x, best_y, RED, style="line"),
        ],
        x_label="trial number",
        y_label=objective.metric,
    )


# -- tables ----------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value * 100:,.2f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:,.{digits}f}"


def trials_table(study: Study, trials: Sequence[Trial], top: int = TOP_TRIALS) -> Table:
    names = study.space.names
    metric = study.objective.metric
    order = ranked(trials, study.objective)
    rows = [
        [
            str(rank),
            str(t.number),
            *(str(t.params.get(n)) for n in names),
            objective_text(t.value, metric),
            _num(t.metrics.sharpe),
            _pct(t.metrics.total_return),
            _pct(t.metrics.max_drawdown),
            f"{t.metrics.trade_count:,}",
            f"{t.seconds:,.2f}",
            t.run_id or "",
        ]
        for rank, t in enumerate(order[: max(top, 0)], start=1)
    ]
    failed = sum(1 for t in trials if t.status == "failed")
    infeasible = sum(1 for t in trials if t.status == "done" and t.value is None)
    note = f"the {len(rows)} best of {len(order)} feasible trials"
    if infeasible:
        note += f"; {infeasible} infeasible (metric undefined or under min_trades)"
    if failed:
        note += f"; {failed} failed"
    note += f"; every trial: arbx optimize show {study.id} --json, or GET /api/v1/optimizations/{study.id}/trials"
    return Table(
        "trials",
        f"Top trials by {metric}",
        [
            "rank",
            "trial",
            *names,
            f"{metric} ({study.objective.direction})",
            "Sharpe",
            "total return",
            "max drawdown",
            "trades",
            "seconds",
            "promoted run",
        ],
        rows,
        note=note,
        numeric=[True, True, *([False] * len(names)), True, True, True, True, True, True, False],
    )


def best_block(study: Study, trials: Sequence[Trial]) -> Block:
    best = best_trial(list(trials), study.objective)
    if best is None:
        return Paragraphs("best", "Best trial", ["no feasible trial yet"], warn=True)
    m = best.metrics
    rows = [
        ["trial", str(best.number)],
        *([f"param {k}", str(v)] for k, v in best.params.items()),
        [
            f"{study.objective.metric} (objective)",
            objective_text(best.value, study.objective.metric),
        ],
        ["Sharpe", _num(m.sharpe)],
        ["Sortino", _num(m.sortino)],
        ["Calmar", _num(m.calmar)],
        ["total return", _pct(m.total_return)],
        ["excess over benchmark", _pct(m.excess_return)],
        ["net P&L", _num(m.net_pnl, 2)],
        ["max drawdown", _pct(m.max_drawdown)],
        ["closed trades", f"{m.trade_count:,}"],
        ["final equity", _num(m.final_equity, 2)],
        ["bars", f"{m.bars:,}"],
        ["seed", str(best.seed)],
        ["promoted run", best.run_id or "-"],
    ]
    return Table(
        "best",
        "Best trial",
        ["", "value"],
        rows,
        note=f"make it a stored run: arbx optimize promote {study.id} {best.number}",
        numeric=[False, True],
    )


def diagnostics_blocks(
    deflated: DeflatedSharpe | None, pbo: Pbo | None, notes: Sequence[str]
) -> list[Block]:
    """The deflated Sharpe ratio and PBO with what they mean; what was not computed says why
    (``notes``)."""
    rows: list[list[str]] = []
    lines: list[str] = []
    if deflated is not None:
        d = deflated
        rows += [
            [
                "deflated Sharpe ratio",
                f"{d.probability:.3f}",
                "P(true Sharpe > best of unskilled trials)",
            ],
            ["best trial's Sharpe", f"{d.sharpe:.4f}", "per return slice, not annualized"],
            [
                "expected max Sharpe of unskilled trials",
                f"{d.expected_max_sharpe:.4f}",
                "per slice",
            ],
            ["trials", f"{d.trials:,}", "counted for the deflation"],
            ["variance of the trials' Sharpe", f"{d.sharpe_variance:.6f}", ""],
            ["observations", f"{d.observations:,}", "return slices of the span"],
            ["skewness", f"{d.skew:.3f}", "of the best trial's returns"],
            ["kurtosis", f"{d.kurtosis:.3f}", "not excess (3 for a normal)"],
        ]
        verdict = "likely" if d.probability >= 0.95 else "not shown"
        lines.append(
            f"deflated Sharpe {d.probability:.3f}: skill beyond the luck of {d.trials:,} tries"
            f" is {verdict} (0.95 is the usual bar)"
        )
    if pbo is not None:
        rows += [
            [
                "probability of backtest overfitting",
                f"{pbo.probability:.3f}",
                "share of CSCV splits",
            ],
            ["CSCV splits", f"{pbo.splits}", "row blocks of the returns"],
            ["combinations", f"{pbo.combinations:,}", "in-sample halves tried"],
        ]
        lines.append(
            f"PBO {pbo.probability:.3f}: in {pbo.probability * 100:.0f}% of the splits the"
            " in-sample best did no better than the median trial out of sample"
            + (" (overfit: do not trust the best)" if pbo.probability > 0.5 else "")
        )
    blocks: list[Block] = []
    if rows:
        blocks.append(
            Table(
                "diagnostics",
                "Overfitting diagnostics",
                ["statistic", "value", "meaning"],
                rows,
                numeric=[False, True, False],
            )
        )
    blocks.append(Paragraphs("diagnostics_notes", "What they say", [*lines, *notes]))
    if pbo is not None and pbo.logits:
        finite = np.asarray([v for v in pbo.logits if math.isfinite(v)], dtype=np.float64)
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
            if lo == hi:
                lo, hi = lo - 0.5, hi + 0.5
            counts, edges = np.histogram(finite, bins=min(20, max(1, finite.size)), range=(lo, hi))
            blocks.append(
                Histogram(
                    "pbo_logits",
                    "Out-of-sample rank of the in-sample best (logit) per split",
                    [float(e) for e in edges],
                    [int(c) for c in counts],
                    x_label="logit of the relative rank (<= 0: at or below the median)",
                    marker=0.0,
                )
            )
    return blocks


def manifest(study: Study, generated_by: str) -> Preformatted:
    body = {
        "study": study.id,
        "created_at": study.created_at,
        "status": study.status,
        "strategy": study.strategy,
        "method": study.method,
        "seed": study.seed,
        "n_trials": study.n_trials,
        "objective": study.objective,
        "space": study.space,
        "request": study.request,
        "data": [
            {
                "series": s.series,
                "rows": s.rows,
                "first_ts": s.first_ts,
                "last_ts": s.last_ts,
                "sha256": s.sha256,
            }
            for s in study.series
        ],
        "engine_version": study.engine_version,
        "generated_by": generated_by,
    }
    text = msgspec.json.format(msgspec.json.encode(body), indent=2).decode()
    return Preformatted(
        "manifest",
        "Study manifest",
        text,
        note="the same space, method, seed and data give the same trials"
        f" (an interrupted study continues with: arbx optimize resume {study.id})",
    )


def _iso(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


def overview(study: Study, trials: Sequence[Trial]) -> Paragraphs:
    o = study.objective
    done = sum(1 for t in trials if t.status == "done")
    failed = len(trials) - done
    lines = [
        f"strategy {study.strategy}; {study.method} search over {', '.join(study.space.names)}",
        f"objective: {o.direction} {o.metric}"
        + (f", at least {o.min_trades} trades" if o.min_trades else ""),
        f"status {study.status}: {done:,} of {study.n_trials:,} trials done"
        + (f", {failed:,} failed" if failed else "")
        + (
            f"; {study.refused_points:,} grid points the strategy refuses were skipped"
            if study.refused_points
            else ""
        ),
        f"series: {', '.join(s.series for s in study.series) or '-'}",
        f"fixed: {', '.join(f'{k}={v}' for k, v in study.space.fixed.items()) or 'defaults'}",
        f"study {study.id}, created {_iso(study.created_at)}, engine {study.engine_version}",
    ]
    if study.error:
        lines.append(f"error: {study.error}")
    warn = study.status != "done"
    if warn:
        lines.append(f"the study is {study.status}: this report shows the trials stored so far")
    return Paragraphs("overview", "Study", lines, warn=warn)


def study_report(
    study: Study,
    trials: Sequence[Trial],
    *,
    deflated: DeflatedSharpe | None = None,
    pbo: Pbo | None = None,
    diagnostic_notes: Sequence[str] = (),
    top: int = TOP_TRIALS,
    generated_by: str = "",
) -> Report:
    """Every section of a study's report."""
    best = best_trial(list(trials), study.objective)
    scatters: list[Block] = [parameter_scatter(study, trials, d) for d in study.space.dimensions]
    if feasible(trials):
        scatters.append(progress_chart(study, trials))
    sections = [
        Section("Overview", [overview(study, trials), best_block(study, trials)]),
        Section("Parameter heatmap", heatmap_blocks(study, trials)),
        Section("Parameters against the objective", scatters),
        Section("Trials", [trials_table(study, trials, top)]),
        Section("Overfitting", diagnostics_blocks(deflated, pbo, diagnostic_notes)),
        Section("Reproducibility", [manifest(study, generated_by)]),
    ]
    subtitle = f"{study.method} search, {study.objective.direction} {study.objective.metric}"
    if best is not None:
        subtitle += (
            f"; best trial {best.number}: {_params(best.params, study.space.names)}"
            f" -> {objective_text(best.value, study.objective.metric)}"
        )
    return Report(
        f"Optimization study {study.strategy} ({study.id[:8]})",
        subtitle,
        [s for s in sections if s.blocks],
        generated_by=generated_by,
    )
