"""The figures of a report computed from a run's tables: curves cut for display, monthly
returns, histograms, the metrics table with units. Pure functions of frames and arrays."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

from arbx.domain.backtest.kernels import FloatArray, IntArray
from arbx.domain.backtest.metrics import Metrics
from arbx.domain.reports.downsample import DEFAULT_POINTS, union_indices
from arbx.domain.reports.model import Number, Table, TimeChart, Trace

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# (label, Metrics field, kind, unit): kind "%" fractions shown as percent, "f" a ratio,
# "d" a count, "$" money in the run's currency ("{ccy}" in the unit is replaced)
METRIC_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("total return", "total_return", "%", "% of capital"),
    ("CAGR", "cagr", "%", "% per year"),
    ("annual volatility", "annual_volatility", "%", "% per year"),
    ("Sharpe", "sharpe", "f", "ratio, annualized"),
    ("Sortino", "sortino", "f", "ratio, annualized"),
    ("Calmar", "calmar", "f", "CAGR / max drawdown"),
    ("max drawdown", "max_drawdown", "%", "% from peak"),
    ("max drawdown duration", "max_drawdown_duration_bars", "d", "bars"),
    ("trades", "trade_count", "d", "closed trades"),
    ("open trades", "open_trades", "d", "at the end"),
    ("win rate", "win_rate", "%", "% of closed trades"),
    ("profit factor", "profit_factor", "f", "gross win / gross loss"),
    ("expectancy", "expectancy", "$", "{ccy} per trade"),
    ("average win", "average_win", "$", "{ccy}"),
    ("average loss", "average_loss", "$", "{ccy}"),
    ("best trade", "best_trade", "%", "% return"),
    ("worst trade", "worst_trade", "%", "% return"),
    ("max consecutive wins", "max_consecutive_wins", "d", "trades"),
    ("max consecutive losses", "max_consecutive_losses", "d", "trades"),
    ("exposure", "exposure", "%", "% of bars in the market"),
    ("turnover", "turnover", "f", "traded notional / capital"),
    ("fees paid", "fees_paid", "$", "{ccy}"),
    ("VaR 95%", "var_95", "%", "% per bar"),
    ("CVaR 95%", "cvar_95", "%", "% per bar"),
    ("final equity", "final_equity", "$", "{ccy}"),
    ("bars", "bars", "d", "bars"),
    ("span", "span_days", "f", "days"),
)
ANNUALIZED = frozenset({"cagr", "annual_volatility", "sharpe", "sortino", "calmar"})


def cell(value: object, kind: str) -> str:
    """A metric formatted for a table: "-" for None (undefined, e.g. no losing trade)."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    if kind == "%":
        return f"{float(value) * 100:,.2f}%"  # type: ignore[arg-type]
    if kind == "d":
        return f"{int(value):,}"  # type: ignore[call-overload]
    if kind == "$":
        return f"{float(value):,.2f}"  # type: ignore[arg-type]
    return f"{float(value):,.3f}"  # type: ignore[arg-type]


def metrics_table(
    metrics: Metrics,
    benchmark: Metrics | None,
    *,
    currency: str,
    benchmark_name: str,
    table_id: str = "metrics",
) -> Table:
    """The metrics with units beside the benchmark's; annualized figures of a span under
    30 days are marked * (a year extrapolated from days)."""
    rows = []
    for label, name, kind, unit in METRIC_ROWS:
        mark = "*" if metrics.short_span and name in ANNUALIZED else ""
        mine = cell(getattr(metrics, name), kind) + mark
        theirs = "" if benchmark is None else cell(getattr(benchmark, name), kind) + mark
        rows.append([label, unit.replace("{ccy}", currency), mine, theirs])
    note = ""
    if metrics.short_span:
        note = "* annualized from a span under 30 days: read with care"
    return Table(
        table_id,
        "Metrics",
        ["metric", "unit", "strategy", benchmark_name],
        rows,
        note=note,
        numeric=[False, False, True, True],
    )


def epoch_seconds(ts: pl.Series) -> FloatArray:
    return np.asarray(ts.dt.epoch("ms").to_numpy(), dtype=np.float64) / 1000.0


def _values(column: FloatArray, idx: IntArray) -> list[Number]:
    picked = column[idx]
    return [float(v) if math.isfinite(v) else None for v in picked.tolist()]


def time_chart(
    chart_id: str,
    title: str,
    x_seconds: FloatArray,
    traces: Sequence[tuple[Trace, FloatArray]],
    *,
    points: int = DEFAULT_POINTS,
    extra_indices: IntArray | None = None,
    **options: object,
) -> TimeChart:
    """A chart of full-length traces cut to ``points`` per trace (their union of kept
    indices, plus ``extra_indices`` such as trade bars); ``Trace.values`` given in
    ``traces`` are replaced by the kept values of the arrays beside them."""
    arrays = [np.asarray(a, dtype=np.float64) for _, a in traces]
    lines = [a for (t, _), a in zip(traces, arrays, strict=True) if t.style != "points"]
    idx = union_indices(lines or arrays, points * max(1, len(lines)))
    if extra_indices is not None and extra_indices.size:
        idx = np.unique(np.concatenate((idx, extra_indices)))
    out = [
        Trace(t.label, _values(a, idx), t.style, t.color, t.axis, t.marker)
        for (t, _), a in zip(traces, arrays, strict=True)
    ]
    return TimeChart(
        chart_id,
        title,
        [float(v) for v in x_seconds[idx].tolist()],
        out,
        points_total=int(x_seconds.size),
        **options,  # type: ignore[arg-type]
    )


def monthly_returns(
    curve: pl.DataFrame, capital: float
) -> tuple[list[str], list[str], list[list[Number]]]:
    """Calendar-month returns of the equity curve (UTC): each month's last equity over the
    previous month's (the first month over the capital), one row per year, the months as
    columns and the year's return last."""
    if curve.is_empty():
        return [], [*MONTHS, "year"], []
    ends = (
        curve.select(pl.col("ts").dt.truncate("1mo").alias("month"), pl.col("equity"))
        .group_by("month", maintain_order=True)
        .agg(pl.col("equity").last())
        .sort("month")
    )
    equity = ends["equity"].to_numpy()
    prev = np.concatenate(([capital], equity[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = np.where(prev != 0, equity / prev - 1.0, np.nan)
    years = ends["month"].dt.year().to_list()
    months = ends["month"].dt.month().to_list()
    labels = sorted(set(years))
    grid: list[list[Number]] = [[None] * 13 for _ in labels]
    year_start: dict[int, float] = {}
    year_end: dict[int, float] = {}
    for k, (year, month) in enumerate(zip(years, months, strict=True)):
        row = labels.index(year)
        grid[row][month - 1] = float(ret[k]) if math.isfinite(ret[k]) else None
        year_start.setdefault(year, float(prev[k]))
        year_end[year] = float(equity[k])
    for row, year in enumerate(labels):
        start = year_start[year]
        grid[row][12] = year_end[year] / start - 1.0 if start else None
    return [str(y) for y in labels], [*MONTHS, "year"], grid


def histogram(values: FloatArray, bins: int = 30) -> tuple[list[float], list[int]]:
    """Equal-width bins over the finite values (edges, counts); empty for no values."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return [], []
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(finite, bins=min(bins, max(1, finite.size)), range=(lo, hi))
    return [float(e) for e in edges], [int(c) for c in counts]


def bar_index(bar_ts_ms: IntArray, at_ms: IntArray) -> IntArray:
    """Positions of ``at_ms`` in the sorted bar times (the bar at or before each)."""
    pos = np.searchsorted(bar_ts_ms, at_ms, side="right") - 1
    return np.clip(pos, 0, max(0, bar_ts_ms.size - 1)).astype(np.int64)


def spaced(count: int, limit: int) -> IntArray:
    """At most ``limit`` of ``range(count)``, evenly spread (first and last kept)."""
    if count <= limit:
        return np.arange(count, dtype=np.int64)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(np.int64))
