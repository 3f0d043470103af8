"""Small builders for engine tests: explicit bars as arrays."""

from __future__ import annotations

import numpy as np
import polars as pl

from arbx.domain.backtest.execution import BarArrays


def arrays(
    open_: list[float],
    close: list[float] | None = None,
    *,
    high: list[float] | None = None,
    low: list[float] | None = None,
    volume: list[float] | None = None,
    venue: str = "binance",
) -> BarArrays:
    o = np.asarray(open_, dtype=np.float64)
    c = np.asarray(close if close is not None else open_, dtype=np.float64)
    h = np.asarray(high, dtype=np.float64) if high is not None else np.maximum(o, c)
    lo = np.asarray(low, dtype=np.float64) if low is not None else np.minimum(o, c)
    v = np.asarray(volume, dtype=np.float64) if volume is not None else np.full(o.size, 1e9)
    ts = np.arange(o.size, dtype=np.int64) * 60_000 + 1_700_000_000_000 // 60_000 * 60_000
    return BarArrays(ts, o, h, lo, c, v, 60_000, venue, "BTC/USDC")


def from_frame(frame: pl.DataFrame) -> BarArrays:
    return BarArrays.from_frame(frame)
