"""Builders for test data: sensible defaults everywhere, override what a test is about."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl

from arbx.domain.market import BAR_SCHEMA, SeriesKey, Timeframe, to_ms

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)


def make_bars(
    n: int,
    start: datetime = DEFAULT_START,
    timeframe: str | Timeframe = "1m",
    *,
    price: float = 100.0,
    seed: int = 7,
    volatility: float = 0.001,
    **overrides: object,
) -> pl.DataFrame:
    """``n`` valid bars on the grid: a seeded random walk with consistent OHLC.

    ``overrides`` replace whole columns (``close=[...]``).
    """
    tf = Timeframe.parse(timeframe) if isinstance(timeframe, str) else timeframe
    rng = np.random.default_rng(seed)
    start_ms = tf.floor_ms(to_ms(start))
    ts = start_ms + np.arange(n, dtype=np.int64) * tf.ms
    close = price * np.exp(np.cumsum(rng.normal(0.0, volatility, n)))
    open_ = np.concatenate(([price], close[:-1]))
    spread = np.abs(rng.normal(0.0, volatility / 2, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.gamma(2.0, 5.0, n)
    columns: dict[str, object] = {
        "ts": ts,
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
    }
    columns.update(overrides)
    frame = pl.DataFrame(columns)
    return frame.with_columns(pl.col("ts").cast(pl.Int64).cast(BAR_SCHEMA["ts"])).select(
        [pl.col(c).cast(t) for c, t in BAR_SCHEMA.items()]
    )


def key(text: str = "binance:BTC/USDC:1m") -> SeriesKey:
    return SeriesKey.parse(text)
