"""Builders for arbitrage engine tests: venues with explicit times, volumes, conversions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from arbx.domain.backtest.arbitrage import AlignedMarket, CrossDecisions, VenueSeries
from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.backtest.execution import BarArrays

T0 = 1_700_000_000_000 // 60_000 * 60_000
MINUTE = 60_000


def bars(
    close: Sequence[float],
    *,
    open_: Sequence[float] | None = None,
    slots: Sequence[int] | None = None,
    volume: Sequence[float] | None = None,
    venue: str = "binance",
    symbol: str = "BTC/USD",
) -> BarArrays:
    """Bars at minute ``slots`` (default 0, 1, 2, ...) after ``T0``; open = close unless given."""
    c = np.asarray(close, dtype=np.float64)
    o = np.asarray(open_ if open_ is not None else close, dtype=np.float64)
    at = np.asarray(slots if slots is not None else range(c.size), dtype=np.int64)
    v = np.asarray(volume, dtype=np.float64) if volume is not None else np.full(c.size, 1e9)
    return BarArrays(
        T0 + at * MINUTE, o, np.maximum(o, c), np.minimum(o, c), c, v, MINUTE, venue, symbol
    )


def venue(
    name: str,
    symbol: str,
    close: Sequence[float],
    *,
    fee_bps: float = 0.0,
    conversion: BarArrays | None = None,
    **kw: object,
) -> VenueSeries:
    return VenueSeries(
        name,
        symbol,
        bars(close, venue=name, symbol=symbol, **kw),  # type: ignore[arg-type]
        FeeSchedule(taker_bps=fee_bps),
        conversion,
    )


def always(m: AlignedMarket, buy: int, sell: int, upto: int, qty: float) -> CrossDecisions:
    """A decision to buy on ``buy`` and sell on ``sell`` at every bar before ``upto``."""
    k = np.arange(upto, dtype=np.int64)
    return CrossDecisions(
        bar=k,
        buy=np.full(k.size, buy, dtype=np.int64),
        sell=np.full(k.size, sell, dtype=np.int64),
        net_ok=np.ones(k.size, dtype=bool),
        max_qty=qty,
    )
