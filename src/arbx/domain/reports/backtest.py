"""The report of one backtest run, built from what the run stored and the bars it read.

Curves are downsampled for display (``downsample``), the tables keep exact values (the
first ``TABLE_ROWS`` rows; the whole tables are in the API and the CLI), and the metrics,
monthly returns and histograms are computed from the full curves and trade lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
import numpy as np
import polars as pl

from arbx.domain.backtest.run import RunMeta, TableName
from arbx.domain.quality.gaps import missing_runs
from arbx.domain.reports.downsample import DEFAULT_POINTS
from arbx.domain.reports.figures import (
    bar_index,
    epoch_seconds,
    histogram,
    metrics_table,
    monthly_returns,
    spaced,
    time_chart,
)
from arbx.domain.reports.model import (
    Band,
    Block,
    Heatmap,
    Histogram,
    Paragraphs,
    Preformatted,
    Report,
    Section,
    Table,
    TimeChart,
    Trace,
)

TABLE_ROWS = 200  # rows of a table shown in a report
MARKERS = 1000  # trade entries (and exits) marked on the price chart at most
GAP_BANDS = 300  # data gaps shaded on the price chart at most
BLUE, ORANGE, GREEN, RED, GREY, PURPLE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#7f7f7f",
    "#9467bd",
)
PALETTE = (BLUE, ORANGE, GREEN, RED, PURPLE, "#8c564b", "#e377c2", GREY, "#bcbd22", "#17becf")


@dataclass(frozen=True)
class ReportInput:
    """A stored run (its meta and tables) and the bars of the series it read, cut to its
    span, keyed by series name ("exchange:BASE/QUOTE:tf"); a series missing there (deleted
    since) is reported as not available."""

    meta: RunMeta
    tables: Mapping[TableName, pl.DataFrame]
    bars: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    generated_by: str = ""
    # extra blocks computed elsewhere (the arbitrage net spread needs the engine's market)
    spread: Block | None = None


def _iso(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


def _ms(ts: pl.Series) -> np.ndarray:
    return np.asarray(ts.dt.epoch("ms").to_numpy(), dtype=np.int64)


def currency_of(meta: RunMeta) -> str:
    """The currency of the run's money values: the common currency of an arbitrage run,
    else the quote of its first series."""
    if meta.common_currency:
        return meta.common_currency
    first = meta.series[0].series if meta.series else ""
    parts = first.split(":")
    return parts[1].split("/", 1)[1] if len(parts) >= 2 and "/" in parts[1] else ""


def summary_block(meta: RunMeta) -> Paragraphs:
    params = ", ".join(f"{k}={v}" for k, v in meta.params.items()) or "defaults"
    lines = [
        f"strategy {meta.strategy} ({params})",
        f"engine {meta.engine} {meta.engine_version}; fill {meta.fill}"
        + (" (OPTIMISTIC: fills at the deciding bar's close)" if meta.optimistic else "")
        + f"; capital {meta.capital:,.2f} {currency_of(meta)}"
        + _execution(meta),
        f"span {_iso(meta.span_start)} .. {_iso(meta.span_end)} (end exclusive)",
        f"series: {', '.join(s.series for s in meta.series)}",
        f"run {meta.id}, created {_iso(meta.created_at)}",
    ]
    if meta.excess_return is not None:
        pnl = "" if meta.excess_pnl is None else f" ({meta.excess_pnl:,.2f} {currency_of(meta)})"
        lines.append(f"excess over the benchmark: {meta.excess_return * 100:,.2f}%{pnl}")
    lines.extend(f"note: {note}" for note in meta.notes)
    return Paragraphs("summary", "Run", lines, warn=meta.optimistic or meta.synthetic)


def _execution(meta: RunMeta) -> str:
    """How orders filled, when not on bars (a synthetic book is flagged)."""
    if meta.execution == "bars":
        return ""
    latency = meta.request.latency_ms or meta.request.book.latency_ms
    return f"; execution {meta.execution}, latency {latency} ms" + (
        " (SYNTHETIC books built from bars)" if meta.synthetic else ""
    )


def equity_blocks(
    meta: RunMeta, curve: pl.DataFrame, price: pl.DataFrame | None, points: int = DEFAULT_POINTS
) -> list[Block]:
    """Equity (with buy & hold of the first series' close, scaled to the capital, as a
    guide) and drawdown."""
    if curve.is_empty():
        return [Paragraphs("equity", "Equity", ["the run stored no equity curve"])]
    x = epoch_seconds(curve["ts"])
    equity = curve["equity"].to_numpy()
    traces: list[tuple[Trace, np.ndarray]] = [(Trace("equity", [], "line", BLUE), equity)]
    note = ""
    if price is not None and not price.is_empty() and meta.engine != "arbitrage":
        at = bar_index(_ms(price["ts"]), _ms(curve["ts"]))
        close = price["close"].to_numpy()[at]
        if close[0] > 0:
            traces.append(
                (
                    Trace("buy & hold (close, no costs)", [], "line", GREY),
                    close / close[0] * meta.capital,
                )
            )
            note = "buy & hold is the first series' close scaled to the capital, without fees"
    currency = currency_of(meta)
    return [
        time_chart("equity", "Equity", x, traces, points=points, y_label=currency, note=note),
        time_chart(
            "drawdown",
            "Drawdown",
            x,
            [(Trace("drawdown", [], "area", RED), -np.abs(curve["drawdown"].to_numpy()))],
            points=points,
            y_label="% from peak",
            percent=True,
        ),
    ]


def gap_bands(frame: pl.DataFrame, step_ms: int) -> list[Band]:
    starts, ends = missing_runs(_ms(frame["ts"]), step_ms)
    keep = spaced(starts.size, GAP_BANDS)
    return [
        Band(
            float(starts[k]) / 1000.0,
            float(ends[k]) / 1000.0,
            f"gap: {(ends[k] - starts[k]) // step_ms} bars",
        )
        for k in keep.tolist()
    ]


def _step_ms(series: str) -> int:
    from arbx.domain.market import Timeframe

    return Timeframe.parse(series.rsplit(":", 1)[-1]).ms


def price_block(
    name: str, bars: pl.DataFrame, trades: pl.DataFrame, points: int = DEFAULT_POINTS
) -> TimeChart:
    """The traded series' close with entries (up) and exits (down) marked; gaps shaded."""
    bar_ms = _ms(bars["ts"])
    close = bars["close"].to_numpy()
    x = bar_ms.astype(np.float64) / 1000.0
    n = close.size
    entries, exits = np.full(n, np.nan), np.full(n, np.nan)
    marked = np.zeros(0, dtype=np.int64)
    note = ""
    if not trades.is_empty():
        pick = spaced(trades.height, MARKERS)
        shown = trades[pick.tolist()] if pick.size < trades.height else trades
        entry_at = bar_index(bar_ms, _ms(shown["entry_ts"]))
        entries[entry_at] = shown["entry_price"].to_numpy()
        closed = shown.filter(~pl.col("is_open"))
        exit_at = bar_index(bar_ms, _ms(closed["exit_ts"]))
        exits[exit_at] = closed["exit_price"].to_numpy()
        marked = np.unique(np.concatenate((entry_at, exit_at)))
        if pick.size < trades.height:
            note = f"{pick.size:,} of {trades.height:,} trades marked (evenly spread)"
    traces = [
        (Trace("close", [], "line", BLUE), close),
        (Trace("entry", [], "points", GREEN, marker="up"), entries),
        (Trace("exit", [], "points", RED, marker="down"), exits),
    ]
    return time_chart(
        "price",
        f"Price and trades: {name}",
        x,
        traces,
        points=points,
        extra_indices=marked,
        y_label=name.split(":")[1] if ":" in name else "",
        note=note,
        bands=gap_bands(bars, _step_ms(name)),
    )


def exposure_blocks(
    meta: RunMeta, curve: pl.DataFrame, price: pl.DataFrame | None, points: int = DEFAULT_POINTS
) -> list[Block]:
    if curve.is_empty():
        return []
    x = epoch_seconds(curve["ts"])
    position = curve["position"].to_numpy()
    blocks: list[Block] = [
        time_chart(
            "position",
            "Position",
            x,
            [(Trace("position", [], "step", PURPLE), position)],
            points=points,
            y_label="units of base" if meta.engine != "arbitrage" else "base, all venues + transit",
        )
    ]
    if price is not None and not price.is_empty() and meta.engine != "arbitrage":
        at = bar_index(_ms(price["ts"]), _ms(curve["ts"]))
        close = price["close"].to_numpy()[at]
        equity = curve["equity"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            exposure = np.where(equity != 0, position * close / equity, np.nan)
        blocks.append(
            time_chart(
                "exposure",
                "Exposure",
                x,
                [(Trace("position value / equity", [], "area", ORANGE), exposure)],
                points=points,
                y_label="% of equity",
                percent=True,
            )
        )
    return blocks


def returns_blocks(meta: RunMeta, curve: pl.DataFrame, trades: pl.DataFrame) -> list[Block]:
    years, months, grid = monthly_returns(curve, meta.capital)
    blocks: list[Block] = [
        Heatmap("monthly", "Monthly returns", years, months, grid, note="calendar months, UTC")
    ]
    if meta.engine != "arbitrage" and "pnl" in trades.columns:
        closed = trades.filter(~pl.col("is_open"))
        edges, counts = histogram(closed["pnl"].to_numpy())
        blocks.append(
            Histogram(
                "trade_pnl",
                "Trade P&L distribution",
                edges,
                counts,
                x_label=f"P&L per closed trade ({currency_of(meta)})",
                note=f"{closed.height:,} closed trades",
                marker=0.0,
            )
        )
    return blocks


def _format(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "-" if not np.isfinite(value) else f"{value:,.6g}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def frame_table(
    table_id: str, title: str, frame: pl.DataFrame, *, limit: int = TABLE_ROWS, note: str = ""
) -> Table:
    """The first ``limit`` rows of a table, exact values formatted."""
    shown = frame.head(limit)
    numeric = [dtype.is_numeric() for dtype in frame.dtypes]
    rows = [[_format(v) for v in row] for row in shown.iter_rows()]
    more = f"first {shown.height:,} of {frame.height:,} rows" if frame.height > limit else ""
    return Table(
        table_id,
        title,
        list(frame.columns),
        rows,
        note="; ".join(p for p in (note, more) if p),
        numeric=numeric,
    )


def data_blocks(meta: RunMeta, bars: Mapping[str, pl.DataFrame]) -> list[Block]:
    rows = []
    for used in meta.series:
        now = bars.get(used.series)
        rows.append(
            [
                used.series,
                f"{used.rows:,}",
                f"{used.first_ts:%Y-%m-%d %H:%M}",
                f"{used.last_ts:%Y-%m-%d %H:%M}",
                "-" if used.gaps is None else f"{used.gaps:,}",
                "-" if used.bars_missing is None else f"{used.bars_missing:,}",
                "-" if used.quality_score is None else f"{used.quality_score:.3f}",
                "-" if used.sha256 is None else used.sha256[:16],
                "deleted" if now is None else f"{now.height:,}",
            ]
        )
    return [
        Table(
            "data",
            "Data read",
            [
                "series",
                "bars",
                "first bar",
                "last bar",
                "gaps",
                "bars missing",
                "quality (0..1)",
                "sha256 (first 16)",
                "bars stored now",
            ],
            rows,
            note="as read by the run; gaps are runs of empty slots on the timeframe grid",
            numeric=[False, True, False, False, True, True, True, False, True],
        )
    ]


def manifest(meta: RunMeta, generated_by: str) -> Preformatted:
    """What reproduces the run: the effective request (fees included), the fingerprints of
    the data it read, the engine and its version."""
    body = {
        "run": meta.id,
        "created_at": meta.created_at,
        "engine": meta.engine,
        "engine_version": meta.engine_version,
        "generated_by": generated_by,
        "request": meta.request,
        "effective_fees": meta.request.fees,
        "params": meta.params,
        "data": [
            {
                "series": s.series,
                "rows": s.rows,
                "first_ts": s.first_ts,
                "last_ts": s.last_ts,
                "sha256": s.sha256,
            }
            for s in meta.series
        ],
        "rerun_of": meta.rerun_of,
        "data_changed": meta.data_changed,
    }
    text = msgspec.json.format(msgspec.json.encode(body), indent=2).decode()
    return Preformatted(
        "manifest",
        "Reproducibility manifest",
        text,
        note=f"rerun with: arbx backtest rerun {meta.id} (the same data give the same result)",
    )


def backtest_report(inp: ReportInput, *, points: int = DEFAULT_POINTS) -> Report:
    """Every section of a run's report (arbitrage runs get their own sections)."""
    from arbx.domain.reports.arbitrage import arbitrage_sections

    meta, tables = inp.meta, inp.tables
    curve, trades = tables.get("curve", pl.DataFrame()), tables.get("trades", pl.DataFrame())
    main = meta.series[0].series if meta.series else ""
    price = inp.bars.get(main)
    arbitrage = meta.engine == "arbitrage"
    bench = "hold inventory" if arbitrage else "buy & hold"
    overview: list[Block] = [
        summary_block(meta),
        metrics_table(
            meta.metrics, meta.benchmark, currency=currency_of(meta), benchmark_name=bench
        ),
    ]
    sections = [
        Section("Overview", overview),
        Section("Equity and drawdown", equity_blocks(meta, curve, price, points)),
    ]
    if arbitrage:
        sections.extend(arbitrage_sections(meta, tables, inp.spread, points))
    else:
        if price is not None and not price.is_empty():
            sections.append(Section("Price and trades", [price_block(main, price, trades, points)]))
        else:
            sections.append(
                Section(
                    "Price and trades",
                    [Paragraphs("price", "Price", [f"{main}: no bars stored now"])],
                )
            )
    sections.append(Section("Position and exposure", exposure_blocks(meta, curve, price, points)))
    sections.append(Section("Returns", returns_blocks(meta, curve, trades)))
    if not arbitrage and not trades.is_empty():
        sections.append(Section("Trades", [frame_table("trades", "Trades", trades)]))
    sections.append(Section("Data", data_blocks(meta, inp.bars)))
    sections.append(Section("Reproducibility", [manifest(meta, inp.generated_by)]))
    params = ", ".join(f"{k}={v}" for k, v in meta.params.items())
    return Report(
        f"Backtest {meta.strategy} ({params})" if params else f"Backtest {meta.strategy}",
        f"{', '.join(s.series for s in meta.series)}; {_iso(meta.span_start)} .. {_iso(meta.span_end)}",
        [s for s in sections if s.blocks],
        generated_by=inp.generated_by,
    )
