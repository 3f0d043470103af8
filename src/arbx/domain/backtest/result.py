"""What a backtest produces: curves, trades, orders, fills, balances and metrics.

Tables are polars frames with fixed schemas (structured records, cheap to store as Arrow
IPC); scalar summaries are msgspec structs so they encode to JSON as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import msgspec
import polars as pl

from arbx.domain.backtest.metrics import Metrics

ENGINE_VERSION = "2.0.0"  # 2: arbitrage accounting and attribution, cross events, calendar time
EngineName = Literal["vectorized", "event", "arbitrage"]

TS = pl.Datetime("ms", "UTC")

TRADE_SCHEMA: dict[str, pl.DataType] = {
    "trade_id": pl.Int64(),
    "venue": pl.String(),
    "symbol": pl.String(),
    "entry_ts": TS,
    "exit_ts": TS,
    "entry_bar": pl.Int64(),
    "exit_bar": pl.Int64(),
    "qty": pl.Float64(),
    "entry_price": pl.Float64(),
    "exit_price": pl.Float64(),
    "fees": pl.Float64(),
    "pnl": pl.Float64(),
    "return": pl.Float64(),
    "is_open": pl.Boolean(),
    "exit_reason": pl.String(),
}

LEG_SCHEMA: dict[str, pl.DataType] = {
    "trade_id": pl.Int64(),
    "ts": TS,
    "bar": pl.Int64(),
    "venue": pl.String(),
    "symbol": pl.String(),
    "side": pl.String(),
    "qty": pl.Float64(),
    "price": pl.Float64(),
    "fee": pl.Float64(),
    "purpose": pl.String(),
    "delay_bars": pl.Int64(),
    "is_open": pl.Boolean(),
}

# One row per arbitrage opportunity: consecutive bars whose gross gap between the same two
# venues (same direction) was above the threshold (see ``backtest.arbitrage_opportunities``).
OPPORTUNITY_SCHEMA: dict[str, pl.DataType] = {
    "opportunity_id": pl.Int64(),
    "buy_venue": pl.String(),
    "sell_venue": pl.String(),
    "start_ts": TS,
    "end_ts": TS,
    "start_bar": pl.Int64(),
    "duration_bars": pl.Int64(),
    "peak_gross_bps": pl.Float64(),
    "peak_net_bps": pl.Float64(),
    "mean_net_bps": pl.Float64(),
    "taken": pl.Boolean(),
    "round_trips": pl.Int64(),
    "reason": pl.String(),
}

ORDER_SCHEMA: dict[str, pl.DataType] = {
    "order_id": pl.Int64(),
    "created_bar": pl.Int64(),
    "venue": pl.String(),
    "side": pl.String(),
    "kind": pl.String(),
    "qty": pl.Float64(),
    "limit_price": pl.Float64(),
    "stop_price": pl.Float64(),
    "filled_qty": pl.Float64(),
    "status": pl.String(),
    "reason": pl.String(),
}

FILL_SCHEMA: dict[str, pl.DataType] = {
    "fill_id": pl.Int64(),
    "order_id": pl.Int64(),
    "ts": TS,
    "bar": pl.Int64(),
    "venue": pl.String(),
    "side": pl.String(),
    "qty": pl.Float64(),
    "price": pl.Float64(),
    "fee": pl.Float64(),
    "liquidity": pl.String(),
}


def frame(rows: Mapping[str, Sequence[object]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Build a table from column lists; ts columns hold epoch milliseconds."""
    columns = {}
    for name, dtype in schema.items():
        values = rows.get(name, [])
        if dtype == TS:
            columns[name] = pl.Series(name, values, dtype=pl.Int64).cast(TS)
        else:
            columns[name] = pl.Series(name, values, dtype=dtype)
    return pl.DataFrame(columns)


class Opportunities(msgspec.Struct, frozen=True):
    """Arbitrage decision bars: seen = gross gap above threshold (or a stat-arb entry
    signal); each is taken or skipped for one reason, so ``seen`` is the sum of ``taken``
    and every ``skipped_*``. ``grouped`` counts opportunities (runs of consecutive seen
    bars, see the opportunities table) and ``grouped_taken`` those with a fill;
    ``net_spread_counts[i]`` counts opportunities whose peak net spread (bps, after fees and
    slippage) lies in ``[net_spread_edges_bps[i-1], net_spread_edges_bps[i])``, the first and
    last bins open-ended. ``fills_delayed`` counts round trips that filled more than one bar
    after their decision (a data gap)."""

    seen: int = 0
    taken: int = 0
    skipped_below_threshold_after_costs: int = 0
    skipped_no_balance: int = 0
    skipped_size_limit: int = 0
    skipped_in_position: int = 0
    skipped_no_market: int = 0
    skipped_risk_rule: int = 0
    skipped_fill_delay: int = 0
    rebalances: int = 0
    fills_delayed: int = 0
    grouped: int = 0
    grouped_taken: int = 0
    net_spread_edges_bps: tuple[float, ...] = ()
    net_spread_counts: tuple[int, ...] = ()


class Attribution(msgspec.Struct, frozen=True):
    """An arbitrage run's P&L split into parts, in the common currency; costs are negative.

    ``total_pnl`` is final equity minus capital and equals the sum of the seven parts up to
    float rounding (``residual``):

    - ``spread``: per round trip ``q * (sell_ref * R_sell - buy_ref * R_buy)`` at the fill
      bar, ``*_ref`` the fill prices before slippage, ``R`` the quote's conversion rate;
    - ``fees`` (trading fees), ``slippage`` (fill price vs reference), ``transfer_fees``
      (rebalancing), ``fx_costs`` (the FX cost of a transfer between different quotes);
    - ``inventory_revaluation``: base on each venue and in transit marked to market bar by
      bar, including the base a round trip moves from the sell venue's mark to the buy
      venue's (``q * (M_buy - M_sell)``, which gives back much of the spread while the
      venues' prices differ), a transfer's move from the source venue's mark to the
      destination's and a kill-switch sale's fill price against the mark;
    - ``conversion``: quote balances (on venues and in transit) revalued by their
      conversion rate bar by bar.
    """

    total_pnl: float
    spread: float
    fees: float
    slippage: float
    transfer_fees: float
    fx_costs: float
    inventory_revaluation: float
    conversion: float
    residual: float

    def parts(self) -> dict[str, float]:
        return {
            "spread": self.spread,
            "fees": self.fees,
            "slippage": self.slippage,
            "transfer_fees": self.transfer_fees,
            "fx_costs": self.fx_costs,
            "inventory_revaluation": self.inventory_revaluation,
            "conversion": self.conversion,
        }


@dataclass(frozen=True)
class BacktestResult:
    """One run's output. ``curve`` has ts, equity, drawdown, cash, position (per bar)."""

    engine: EngineName
    fill: str
    capital: float
    curve: pl.DataFrame
    trades: pl.DataFrame
    orders: pl.DataFrame
    fills: pl.DataFrame
    metrics: Metrics
    benchmark: Metrics | None = None
    balances: pl.DataFrame | None = None
    opportunities: Opportunities | None = None
    engine_version: str = ENGINE_VERSION
    notes: list[str] = field(default_factory=list)
    # arbitrage runs: the currency every value is in, the P&L attribution and one row per
    # opportunity (OPPORTUNITY_SCHEMA)
    common_currency: str | None = None
    attribution: Attribution | None = None
    opportunity_table: pl.DataFrame | None = None
    # how orders filled: "bars" (bar prices and a slippage model), "synthetic_book"
    # (walking books built from bars: ``synthetic`` flags that no recorded book was used),
    # "recorded_book" or "recorded_quotes" (walking the recorded streams)
    execution: str = "bars"
    synthetic: bool = False

    @property
    def optimistic(self) -> bool:
        """Fills at the deciding bar's close cannot be had in practice: flag them."""
        return self.fill == "close"

    @property
    def final_equity(self) -> float:
        return float(self.curve["equity"][-1]) if self.curve.height else self.capital

    @property
    def excess_return(self) -> float | None:
        """Total return minus the benchmark's (None without a benchmark)."""
        b, m = self.benchmark, self.metrics
        if b is None or b.total_return is None or m.total_return is None:
            return None
        return m.total_return - b.total_return

    @property
    def excess_pnl(self) -> float | None:
        """Final equity minus the benchmark's final equity, in the run's currency."""
        b, m = self.benchmark, self.metrics
        if b is None or b.final_equity is None or m.final_equity is None:
            return None
        return m.final_equity - b.final_equity
