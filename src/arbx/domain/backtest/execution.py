"""What both single-series engines share: bar arrays, execution settings, result assembly."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import msgspec
import numpy as np
import polars as pl

from arbx.domain.backtest.costs import FeeSchedule, SlippageModel
from arbx.domain.backtest.kernels import FloatArray, IntArray, drawdown
from arbx.domain.backtest.metrics import compute_metrics
from arbx.domain.backtest.result import (
    FILL_SCHEMA,
    ORDER_SCHEMA,
    TRADE_SCHEMA,
    BacktestResult,
    EngineName,
    frame,
)
from arbx.domain.backtest.sizing import Sizing
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Timeframe

FillMode = Literal["next_open", "close"]


@dataclass(frozen=True)
class BarArrays:
    """One series as contiguous float64 arrays (ts in epoch milliseconds)."""

    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    bar_ms: int = Timeframe.M1.ms
    venue: str = ""
    symbol: str = ""

    @classmethod
    def from_frame(
        cls,
        bars: pl.DataFrame,
        timeframe: Timeframe = Timeframe.M1,
        venue: str = "",
        symbol: str = "",
    ) -> BarArrays:
        def col(name: str) -> FloatArray:
            return np.ascontiguousarray(bars.get_column(name).to_numpy(), dtype=np.float64)

        ts = bars.get_column("ts").dt.epoch("ms").to_numpy().astype(np.int64)
        return cls(
            ts,
            col("open"),
            col("high"),
            col("low"),
            col("close"),
            col("volume"),
            timeframe.ms,
            venue,
            symbol,
        )

    @property
    def n(self) -> int:
        return int(self.close.size)

    def head(self, stop: int) -> BarArrays:
        """The first ``stop`` bars (views, no copy): what a strategy may see at ``stop - 1``."""
        return BarArrays(
            self.ts[:stop],
            self.open[:stop],
            self.high[:stop],
            self.low[:stop],
            self.close[:stop],
            self.volume[:stop],
            self.bar_ms,
            self.venue,
            self.symbol,
        )


class Execution(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How orders become fills: capital, the venue's fees, slippage, sizing, fill timing."""

    capital: float = 10_000.0
    fees: FeeSchedule = FeeSchedule()
    slippage: SlippageModel = SlippageModel()
    sizing: Sizing = Sizing()
    fill: FillMode = "next_open"
    lot_size: float = 0.0
    risk_free_rate: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.capital) and self.capital > 0):
            raise InvalidInput(
                f"capital must be a positive amount, got {self.capital!r}", field="capital"
            )
        if not (math.isfinite(self.lot_size) and self.lot_size >= 0):
            raise InvalidInput(
                f"lot_size must be >= 0 (0 = no rounding), got {self.lot_size!r}",
                field="lot_size",
            )

    @property
    def fill_close(self) -> bool:
        return self.fill == "close"

    @property
    def closed_form(self) -> bool:
        """True when sizing compounds in closed form (no lots, no size-dependent slippage)."""
        return (
            self.sizing.is_proportional
            and self.lot_size == 0.0
            and not self.slippage.depends_on_size
        )


@dataclass
class TradeBook:
    """Closed and open long trades plus their fills, as column lists."""

    entry_bar: list[int]
    exit_bar: list[int | None]
    qty: list[float]
    entry_price: list[float]
    exit_price: list[float | None]
    entry_fee: list[float]
    exit_fee: list[float]
    exit_reason: list[str]

    @classmethod
    def empty(cls) -> TradeBook:
        return cls([], [], [], [], [], [], [], [])


def assemble(
    engine: EngineName,
    bars: BarArrays,
    execution: Execution,
    equity: FloatArray,
    cash: FloatArray,
    position: FloatArray,
    book: TradeBook,
    orders: pl.DataFrame | None = None,
    fills: pl.DataFrame | None = None,
) -> BacktestResult:
    """Turn engine arrays into a ``BacktestResult`` with trades, fills and metrics."""
    m = len(book.qty)
    ts = bars.ts.tolist()
    closed = [k for k in range(m) if book.exit_bar[k] is not None]
    last_close = float(bars.close[-1]) if bars.n else math.nan
    pnl: list[float] = []
    ret: list[float] = []
    for k in range(m):
        cost = book.qty[k] * book.entry_price[k] + book.entry_fee[k]
        exit_px = book.exit_price[k]
        value = book.qty[k] * (exit_px if exit_px is not None else last_close)
        p = value - book.exit_fee[k] - cost
        pnl.append(p)
        ret.append(p / cost if cost > 0 else 0.0)
    trades = frame(
        {
            "trade_id": list(range(m)),
            "venue": [bars.venue] * m,
            "symbol": [bars.symbol] * m,
            "entry_ts": [ts[i] for i in book.entry_bar],
            "exit_ts": [ts[i] if i is not None else None for i in book.exit_bar],
            "entry_bar": book.entry_bar,
            "exit_bar": book.exit_bar,
            "qty": book.qty,
            "entry_price": book.entry_price,
            "exit_price": book.exit_price,
            "fees": [a + b for a, b in zip(book.entry_fee, book.exit_fee, strict=True)],
            "pnl": pnl,
            "return": ret,
            "is_open": [i is None for i in book.exit_bar],
            "exit_reason": book.exit_reason,
        },
        TRADE_SCHEMA,
    )
    if fills is None or orders is None:
        orders, fills = _market_orders(bars, book, 0 if execution.fill_close else 1)
    notional = float((fills["qty"] * fills["price"]).sum()) if fills.height else 0.0
    fees_paid = float(fills["fee"].sum()) if fills.height else 0.0
    metrics = compute_metrics(
        equity,
        execution.capital,
        bars.bar_ms,
        risk_free_rate=execution.risk_free_rate,
        trade_pnl=np.asarray([pnl[k] for k in closed]),
        trade_return=np.asarray([ret[k] for k in closed]),
        open_trades=m - len(closed),
        exposed=position,
        traded_notional=notional,
        fees_paid=fees_paid,
    )
    curve = pl.DataFrame(
        {
            "ts": pl.Series("ts", bars.ts, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")),
            "equity": equity,
            "drawdown": drawdown(equity, execution.capital),
            "cash": cash,
            "position": position,
        }
    )
    return BacktestResult(
        engine=engine,
        fill=execution.fill,
        capital=execution.capital,
        curve=curve,
        trades=trades,
        orders=orders,
        fills=fills,
        metrics=metrics,
        notes=["fills at the deciding bar's close are optimistic"] if execution.fill_close else [],
    )


def _market_orders(
    bars: BarArrays, book: TradeBook, delay: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Orders and fills of a signal run where every order is a market order filled whole."""
    ts = bars.ts.tolist()
    rows: list[tuple[int, str, float, float, float, str]] = []
    for k in range(len(book.qty)):
        rows.append(
            (
                book.entry_bar[k],
                "buy",
                book.qty[k],
                book.entry_price[k],
                book.entry_fee[k],
                "signal",
            )
        )
        exit_bar = book.exit_bar[k]
        exit_price = book.exit_price[k]
        if exit_bar is not None and exit_price is not None:
            rows.append(
                (exit_bar, "sell", book.qty[k], exit_price, book.exit_fee[k], book.exit_reason[k])
            )
    count = len(rows)
    ids = list(range(count))
    fills = frame(
        {
            "fill_id": ids,
            "order_id": ids,
            "ts": [ts[r[0]] for r in rows],
            "bar": [r[0] for r in rows],
            "venue": [bars.venue] * count,
            "side": [r[1] for r in rows],
            "qty": [r[2] for r in rows],
            "price": [r[3] for r in rows],
            "fee": [r[4] for r in rows],
            "liquidity": ["taker"] * count,
        },
        FILL_SCHEMA,
    )
    orders = frame(
        {
            "order_id": ids,
            "created_bar": [r[0] - delay for r in rows],
            "venue": [bars.venue] * count,
            "side": [r[1] for r in rows],
            "kind": ["market"] * count,
            "qty": [r[2] for r in rows],
            "limit_price": [None] * count,
            "stop_price": [None] * count,
            "filled_qty": [r[2] for r in rows],
            "status": ["filled"] * count,
            "reason": [r[5] for r in rows],
        },
        ORDER_SCHEMA,
    )
    return orders, fills
