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

ENGINE_VERSION = "1.0.0"
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
    """Arbitrage opportunities: seen = gross gap above threshold; taken or skipped (why)."""

    seen: int = 0
    taken: int = 0
    skipped_below_threshold_after_costs: int = 0
    skipped_no_balance: int = 0
    skipped_size_limit: int = 0
    skipped_in_position: int = 0
    skipped_no_market: int = 0
    rebalances: int = 0


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

    @property
    def optimistic(self) -> bool:
        """Fills at the deciding bar's close cannot be had in practice: flag them."""
        return self.fill == "close"

    @property
    def final_equity(self) -> float:
        return float(self.curve["equity"][-1]) if self.curve.height else self.capital
