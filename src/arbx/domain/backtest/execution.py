"""What both single-series engines share: bar arrays, execution settings, result assembly."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import numpy as np
import polars as pl

from arbx.domain.backtest.costs import FeeSchedule, SlippageModel, known_volume
from arbx.domain.backtest.kernels import FloatArray, IntArray, drawdown
from arbx.domain.backtest.metrics import compute_metrics
from arbx.domain.backtest.result import (
    FILL_SCHEMA,
    ORDER_SCHEMA,
    TRADE_SCHEMA,
    TS,
    BacktestResult,
    EngineName,
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


DEFAULT_VOLUME_WINDOW = 20


class Execution(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How orders become fills: capital, the venue's fees, slippage, sizing, fill timing,
    the venue's lot size (quantities round down to it; 0 = none) and minimum notional (0 =
    none). A buy below the minimum notional, or rounded down to no lot at all, is not
    placed and is counted in ``Metrics.skipped_min_notional``.

    ``volume_window``: volume-dependent costs (``volume_share`` slippage, the event
    engine's ``max_volume_share``) use the mean volume of the ``volume_window`` bars up to
    the decision bar (``costs.known_volume``), never the volume of the fill bar itself,
    which is not known when the order is sent.
    """

    capital: float = 10_000.0
    fees: FeeSchedule = FeeSchedule()
    slippage: SlippageModel = SlippageModel()
    sizing: Sizing = Sizing()
    fill: FillMode = "next_open"
    lot_size: float = 0.0
    risk_free_rate: float = 0.0
    min_notional: float = 0.0
    volume_window: int = DEFAULT_VOLUME_WINDOW

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
        if not (math.isfinite(self.min_notional) and self.min_notional >= 0):
            raise InvalidInput(
                f"min_notional must be >= 0 (0 = none), got {self.min_notional!r}",
                field="min_notional",
            )
        if self.volume_window < 1:
            raise InvalidInput(
                f"the volume window must be >= 1 bar, got {self.volume_window}",
                field="slippage",
            )
        if not math.isfinite(self.risk_free_rate):
            raise InvalidInput(
                f"risk_free_rate must be a number, got {self.risk_free_rate!r}",
                field="risk_free_rate",
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

    def below_min_notional(self, quantity: float, price: float) -> bool:
        """True for a buy the venue would refuse: below its minimum notional, or no whole
        lot at all (the quantity rounded down to nothing)."""
        return quantity <= 0.0 or quantity * price < self.min_notional


def fill_volume(bars: BarArrays, execution: Execution, at_close: bool) -> FloatArray:
    """Per bar t, the volume a fill at t may use: the known volume of the decision bar.

    A fill at the close of t (``at_close``) was decided at t; a fill inside bar t (at its
    open, or a resting order trading through) was decided at t-1 at the latest, so it
    sees ``known_volume`` up to t-1 (0 at the first bar, which counts as full
    participation). Both signal engines read this one array.
    """
    known = known_volume(bars.volume, execution.volume_window)
    if at_close:
        return known
    out = np.zeros(known.size)
    out[1:] = known[:-1]
    return out


@dataclass
class TradeBook:
    """Long trades as columns (lists while an engine appends, or arrays).

    An open trade has ``exit_bar == -1`` and a NaN ``exit_price``.
    """

    entry_bar: Any
    exit_bar: Any
    qty: Any
    entry_price: Any
    exit_price: Any
    entry_fee: Any
    exit_fee: Any
    exit_reason: list[str]
    skipped_min_notional: int = 0

    @classmethod
    def empty(cls) -> TradeBook:
        return cls([], [], [], [], [], [], [], [])


def _ts(values: IntArray) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64).cast(TS)


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
    entry_bar = np.asarray(book.entry_bar, dtype=np.int64)
    exit_bar = np.asarray(book.exit_bar, dtype=np.int64)
    qty = np.asarray(book.qty, dtype=np.float64)
    entry_price = np.asarray(book.entry_price, dtype=np.float64)
    exit_price = np.asarray(book.exit_price, dtype=np.float64)
    entry_fee = np.asarray(book.entry_fee, dtype=np.float64)
    exit_fee = np.asarray(book.exit_fee, dtype=np.float64)
    m = int(qty.size)
    is_open = exit_bar < 0
    last_close = float(bars.close[-1]) if bars.n else math.nan
    cost = qty * entry_price + entry_fee
    value = qty * np.where(is_open, last_close, exit_price)
    pnl = value - exit_fee - cost
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = np.where(cost > 0, pnl / cost, 0.0)
    exit_ts = pl.Series(bars.ts[np.maximum(exit_bar, 0)] if m else np.zeros(0, np.int64))
    trades = pl.DataFrame(
        {
            "trade_id": np.arange(m, dtype=np.int64),
            "venue": pl.repeat(bars.venue, m, eager=True, dtype=pl.String),
            "symbol": pl.repeat(bars.symbol, m, eager=True, dtype=pl.String),
            "entry_ts": _ts(bars.ts[entry_bar]),
            "exit_ts": _ts(exit_ts.to_numpy()).scatter(np.flatnonzero(is_open), None),
            "entry_bar": entry_bar,
            "exit_bar": pl.Series(exit_bar).scatter(np.flatnonzero(is_open), None),
            "qty": qty,
            "entry_price": entry_price,
            "exit_price": pl.Series(exit_price).scatter(np.flatnonzero(is_open), None),
            "fees": entry_fee + exit_fee,
            "pnl": pnl,
            "return": ret,
            "is_open": is_open,
            "exit_reason": pl.Series(book.exit_reason, dtype=pl.String),
        },
        schema=TRADE_SCHEMA,
    )
    if fills is None or orders is None:
        arrays = (entry_bar, exit_bar, qty, entry_price, exit_price, entry_fee, exit_fee)
        delay = 0 if execution.fill_close else 1
        orders, fills = _market_orders(bars, arrays, book.exit_reason, delay)
    notional = float((fills["qty"] * fills["price"]).sum()) if fills.height else 0.0
    fees_paid = float(fills["fee"].sum()) if fills.height else 0.0
    dd = drawdown(equity, execution.capital)
    metrics = compute_metrics(
        equity,
        execution.capital,
        bars.bar_ms,
        risk_free_rate=execution.risk_free_rate,
        trade_pnl=pnl[~is_open],
        trade_return=ret[~is_open],
        open_trades=int(is_open.sum()),
        exposed=position,
        traded_notional=notional,
        fees_paid=fees_paid,
        drawdown=dd,
        ts=bars.ts,
        skipped_min_notional=book.skipped_min_notional,
    )
    curve = pl.DataFrame(
        {
            "ts": _ts(bars.ts),
            "equity": equity,
            "drawdown": dd,
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
    bars: BarArrays,
    book: tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray],
    reasons: list[str],
    delay: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Orders and fills of a signal run where every order is a market order filled whole:
    per trade a buy at entry, then (when closed) a sell at exit, in trade order."""
    entry_bar, exit_bar, qty, entry_price, exit_price, entry_fee, exit_fee = book
    keep = np.column_stack((np.ones(qty.size, dtype=bool), exit_bar >= 0)).ravel()

    def pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.column_stack((a, b)).ravel()[keep]
        return out

    bar = pair(entry_bar, exit_bar)
    count = int(bar.size)
    side = pair(np.full(qty.size, "buy", dtype=object), np.full(qty.size, "sell", dtype=object))
    reason = pair(np.full(qty.size, "signal", dtype=object), np.asarray(reasons, dtype=object))
    ids = np.arange(count, dtype=np.int64)
    q = pair(qty, qty)
    venue = pl.repeat(bars.venue, count, eager=True, dtype=pl.String)
    fills = pl.DataFrame(
        {
            "fill_id": ids,
            "order_id": ids,
            "ts": _ts(bars.ts[bar]),
            "bar": bar,
            "venue": venue,
            "side": pl.Series(side, dtype=pl.String),
            "qty": q,
            "price": pair(entry_price, exit_price),
            "fee": pair(entry_fee, exit_fee),
            "liquidity": pl.repeat("taker", count, eager=True, dtype=pl.String),
        },
        schema=FILL_SCHEMA,
    )
    orders = pl.DataFrame(
        {
            "order_id": ids,
            "created_bar": bar - delay,
            "venue": venue,
            "side": pl.Series(side, dtype=pl.String),
            "kind": pl.repeat("market", count, eager=True, dtype=pl.String),
            "qty": q,
            "limit_price": pl.repeat(None, count, eager=True, dtype=pl.Float64),
            "stop_price": pl.repeat(None, count, eager=True, dtype=pl.Float64),
            "filled_qty": q,
            "status": pl.repeat("filled", count, eager=True, dtype=pl.String),
            "reason": pl.Series(reason, dtype=pl.String),
        },
        schema=ORDER_SCHEMA,
    )
    return orders, fills
