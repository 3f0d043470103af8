"""Arbitrage opportunities: runs of consecutive decision bars grouped, with their outcome.

An opportunity is a run of consecutive bars (on the run's time axis) at which the gross
gap between the same buy and sell venue was above the threshold (threshold arbitrage) or
the same entry signal stood (statistical arbitrage). It is ``taken`` when at least one of
its bars led to a fill; otherwise its reason is that of its first bar whose net spread
cleared the threshold (``no_balance``, ``size_limit``, ``risk_rule``, ``no_market``,
``in_position``, ``fill_delay``), or ``below_threshold`` when none did.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from arbx.domain.backtest.arbitrage_books import BELOW, REASONS, TAKEN
from arbx.domain.backtest.arbitrage_market import AlignedMarket
from arbx.domain.backtest.kernels import FloatArray, IntArray
from arbx.domain.backtest.result import OPPORTUNITY_SCHEMA, TS

# Fixed bins of the peak net spread histogram (bps); the outer bins are open-ended.
NET_SPREAD_EDGES_BPS: tuple[float, ...] = (-50.0, -20.0, -10.0, -5.0, 0.0, 5.0, 10.0, 20.0, 50.0)


def group(
    market: AlignedMarket,
    bars: IntArray,
    buy: IntArray,
    sell: IntArray,
    gross_bps: FloatArray,
    net_bps: FloatArray,
    outcome: IntArray,
) -> tuple[pl.DataFrame, list[int]]:
    """The opportunities table (``OPPORTUNITY_SCHEMA``) and the histogram counts of their
    peak net spreads over ``NET_SPREAD_EDGES_BPS``. Arrays are per decision bar, sorted."""
    n = int(bars.size)
    edges = np.asarray(NET_SPREAD_EDGES_BPS)
    if n == 0:
        empty = {k: pl.Series(k, [], dtype=d) for k, d in OPPORTUNITY_SCHEMA.items()}
        return pl.DataFrame(empty), [0] * (edges.size + 1)
    new = np.ones(n, dtype=bool)
    new[1:] = (bars[1:] != bars[:-1] + 1) | (buy[1:] != buy[:-1]) | (sell[1:] != sell[:-1])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n) - 1
    length = ends - starts + 1
    taken = np.add.reduceat((outcome == TAKEN).astype(np.int64), starts)
    idx = np.arange(n)
    first_tried = np.minimum.reduceat(np.where(outcome != BELOW, idx, n), starts)
    reason = np.where(first_tried < n, outcome[np.minimum(first_tried, n - 1)], BELOW)
    reason = np.where(taken > 0, TAKEN, reason)
    peak_net = np.maximum.reduceat(net_bps, starts)
    counts = np.bincount(np.searchsorted(edges, peak_net, side="right"), minlength=edges.size + 1)
    venues = pl.Series(market.venues, dtype=pl.String)
    names = pl.Series(REASONS, dtype=pl.String)
    table = pl.DataFrame(
        {
            "opportunity_id": pl.Series(np.arange(starts.size, dtype=np.int64)),
            "buy_venue": venues.gather(buy[starts]),
            "sell_venue": venues.gather(sell[starts]),
            "start_ts": pl.Series(market.ts[bars[starts]], dtype=pl.Int64).cast(TS),
            "end_ts": pl.Series(market.ts[bars[ends]], dtype=pl.Int64).cast(TS),
            "start_bar": pl.Series(bars[starts].astype(np.int64)),
            "duration_bars": pl.Series(length.astype(np.int64)),
            "peak_gross_bps": pl.Series(np.maximum.reduceat(gross_bps, starts)),
            "peak_net_bps": pl.Series(peak_net),
            "mean_net_bps": pl.Series(np.add.reduceat(net_bps, starts) / length),
            "taken": pl.Series(taken > 0),
            "round_trips": pl.Series(taken.astype(np.int64)),
            "reason": names.gather(reason),
        }
    )
    return table.select(list(OPPORTUNITY_SCHEMA)), [int(c) for c in counts]
