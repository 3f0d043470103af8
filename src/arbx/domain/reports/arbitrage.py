"""The arbitrage sections of a run's report: the net spread between venues against the
threshold, the opportunities taken and skipped, balances per venue and transfers, and the
P&L attribution as a waterfall."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise

import numpy as np
import polars as pl

from arbx.domain.backtest.arbitrage import AlignedMarket, VenueSeries
from arbx.domain.backtest.costs import fees_for
from arbx.domain.backtest.execution import BarArrays
from arbx.domain.backtest.request import ValidRequest
from arbx.domain.backtest.run import RunMeta, TableName
from arbx.domain.market import SeriesKey
from arbx.domain.reports.downsample import DEFAULT_POINTS
from arbx.domain.reports.figures import time_chart
from arbx.domain.reports.model import (
    Block,
    Histogram,
    Paragraphs,
    Section,
    Step,
    Table,
    TimeChart,
    Trace,
    Waterfall,
)

BPS = 1e-4
SKIP_REASONS = (
    ("below threshold after costs", "skipped_below_threshold_after_costs"),
    ("no balance", "skipped_no_balance"),
    ("size limit", "skipped_size_limit"),
    ("in position", "skipped_in_position"),
    ("no market", "skipped_no_market"),
    ("risk rule", "skipped_risk_rule"),
    ("fill delay", "skipped_fill_delay"),
)
ATTRIBUTION_LABELS = {
    "spread": "spread captured",
    "fees": "trading fees",
    "slippage": "slippage",
    "transfer_fees": "transfer fees",
    "fx_costs": "FX costs",
    "inventory_revaluation": "inventory revaluation",
    "conversion": "quote conversion",
}


def spread_chart(
    valid: ValidRequest, bars: Mapping[SeriesKey, pl.DataFrame], *, points: int = DEFAULT_POINTS
) -> TimeChart:
    """Per bar where two venues quote: the gross gap between the dearest and the cheapest
    venue's close in the common currency, the same net of both taker fees (and of a fixed
    slippage on both legs), and the strategy's threshold, all in bps (the gap the threshold
    strategy trades on; size-dependent slippage is not subtracted here)."""
    arrays = {
        k: BarArrays.from_frame(bars[k], k.timeframe, k.exchange.id, str(k.symbol))
        for k in valid.all_keys()
    }
    venues = [
        VenueSeries(
            k.exchange.id,
            str(k.symbol),
            arrays[k],
            fees_for(k.exchange.id, valid.request.fees),
            arrays[valid.conversions[k]] if k in valid.conversions else None,
        )
        for k in valid.keys
    ]
    market = AlignedMarket.align(
        venues,
        common_currency=valid.common_currency(),
        assume_parity=tuple(valid.request.arbitrage.assume_parity),
    )
    price = market.common_close()
    quoting = np.isfinite(price)
    enough = quoting.sum(axis=0) >= 2
    low = np.where(quoting, price, np.inf)
    high = np.where(quoting, price, -np.inf)
    buy, sell = np.argmin(low, axis=0), np.argmax(high, axis=0)
    cols = np.arange(market.n)
    with np.errstate(invalid="ignore", divide="ignore"):
        gross = np.where(enough, (high[sell, cols] / low[buy, cols] - 1.0) / BPS, np.nan)
    taker = np.asarray([f.taker_bps for f in market.fees])
    cost = taker[buy] + taker[sell]
    slip = valid.request.slippage
    fixed = slip.kind == "fixed"
    if fixed:
        cost = cost + 2.0 * slip.bps
    net = gross - cost
    traces: list[tuple[Trace, np.ndarray]] = [
        (Trace("gross gap", [], "line", "#aec7e8"), gross),
        (Trace("net of fees" + (" and slippage" if fixed else ""), [], "line", "#1f77b4"), net),
    ]
    threshold = getattr(valid.params, "threshold_bps", None)
    if threshold is not None:
        traces.append(
            (Trace("threshold", [], "line", "#d62728"), np.full(market.n, float(threshold)))
        )
    note = "the dearest venue's close over the cheapest's, in the common currency"
    if slip.kind not in ("none", "fixed"):
        note += "; size-dependent slippage is not subtracted in this chart"
    return time_chart(
        "spread",
        f"Net spread between venues ({', '.join(market.labels)})",
        market.ts.astype(np.float64) / 1000.0,
        traces,
        points=points,
        y_label="bps",
        note=note,
    )


def opportunity_blocks(meta: RunMeta, table: pl.DataFrame) -> list[Block]:
    from arbx.domain.reports.backtest import frame_table

    o = meta.opportunities
    if o is None:
        return []
    rows = [["seen (decision bars)", f"{o.seen:,}"], ["taken", f"{o.taken:,}"]]
    rows += [[f"skipped: {label}", f"{getattr(o, name):,}"] for label, name in SKIP_REASONS]
    rows += [
        ["opportunities (runs of seen bars)", f"{o.grouped:,}"],
        ["opportunities with a fill", f"{o.grouped_taken:,}"],
        ["rebalances", f"{o.rebalances:,}"],
        ["fills delayed by a gap", f"{o.fills_delayed:,}"],
    ]
    blocks: list[Block] = [
        Table(
            "opportunity_counts",
            "Opportunities taken and skipped",
            ["", "count"],
            rows,
            numeric=[False, True],
        )
    ]
    if o.net_spread_counts:
        edges = list(o.net_spread_edges_bps)
        labels = [
            f"< {edges[0]:g}",
            *(f"{a:g} .. {b:g}" for a, b in pairwise(edges)),
            f">= {edges[-1]:g}",
        ]
        width = (edges[-1] - edges[0]) / max(1, len(edges) - 1) if len(edges) > 1 else 1.0
        full_edges = [edges[0] - width, *edges, edges[-1] + width]
        blocks.append(
            Histogram(
                "net_spread_hist",
                "Peak net spread of the opportunities",
                full_edges,
                list(o.net_spread_counts),
                x_label="bps after fees and slippage",
                labels=labels,
                marker=0.0,
                note="first and last bins are open-ended",
            )
        )
    if not table.is_empty():
        blocks.append(frame_table("opportunities", "Opportunities", table))
    return blocks


def balance_blocks(
    meta: RunMeta, balances: pl.DataFrame, legs: pl.DataFrame, points: int = DEFAULT_POINTS
) -> list[Block]:
    from arbx.domain.reports.backtest import PALETTE, frame_table
    from arbx.domain.reports.figures import epoch_seconds

    if balances.is_empty():
        return []
    x = epoch_seconds(balances["ts"])
    blocks: list[Block] = []
    for kind, unit in (("base", "units of base"), ("quote", "units of each venue's quote")):
        names = [c for c in balances.columns if c.endswith(f":{kind}") and "transit" not in c]
        traces = [
            (
                Trace(name.rsplit(":", 1)[0], [], "step", PALETTE[i % len(PALETTE)]),
                balances[name].to_numpy(),
            )
            for i, name in enumerate(names)
        ]
        transit = f"transit_{kind}"
        if transit in balances.columns:
            traces.append(
                (Trace("in transit", [], "step", "#7f7f7f"), balances[transit].to_numpy())
            )
        if traces:
            blocks.append(
                time_chart(
                    f"balances_{kind}",
                    f"Balances per venue: {kind}",
                    x,
                    traces,
                    points=points,
                    y_label=unit,
                )
            )
    transfers = (
        legs.filter(pl.col("purpose") == "rebalance") if "purpose" in legs.columns else legs.head(0)
    )
    if transfers.is_empty():
        blocks.append(Paragraphs("transfers", "Transfers", ["no rebalancing transfers"]))
    else:
        blocks.append(frame_table("transfers", "Transfers (rebalancing)", transfers))
    if not legs.is_empty():
        trips = legs.filter(pl.col("purpose") != "rebalance") if "purpose" in legs.columns else legs
        blocks.append(frame_table("legs", "Round-trip legs", trips))
    return blocks


def attribution_block(meta: RunMeta) -> Block | None:
    a = meta.attribution
    if a is None:
        return None
    steps = [Step(ATTRIBUTION_LABELS.get(k, k), v) for k, v in a.parts().items()]
    return Waterfall(
        "attribution",
        "P&L attribution",
        steps,
        "total P&L",
        a.total_pnl,
        unit=meta.common_currency or "",
        note=f"parts add up to the total up to a residual of {a.residual:.3g}",
    )


def arbitrage_sections(
    meta: RunMeta,
    tables: Mapping[TableName, pl.DataFrame],
    spread: Block | None,
    points: int = DEFAULT_POINTS,
) -> list[Section]:
    sections = []
    attribution = attribution_block(meta)
    if attribution is not None:
        sections.append(Section("P&L attribution", [attribution]))
    spread_blocks: list[Block] = [spread] if spread is not None else []
    spread_blocks += opportunity_blocks(meta, tables.get("opportunities", pl.DataFrame()))
    sections.append(Section("Spread and opportunities", spread_blocks))
    sections.append(
        Section(
            "Balances and transfers",
            balance_blocks(
                meta,
                tables.get("balances", pl.DataFrame()),
                tables.get("trades", pl.DataFrame()),
                points,
            ),
        )
    )
    return sections
