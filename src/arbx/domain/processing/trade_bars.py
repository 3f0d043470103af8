"""Bars of closed intervals from stored trades (the tick -> OHLCV kernel on a trade frame).

A bar is only as good as the trades it sums: an interval is built only when the caller knows
every trade of it is held (``[start_ms, end_ms)``: a backfill's requested span, or a file's
trades up to the interval of its last trade, which may go on past the file's end). Trades of
one instant are taken in the venue's order: numeric ids by number (Binance and Kraken count
trades, Coinbase counts per product), other ids as text.
"""

from __future__ import annotations

import polars as pl

from arbx.domain.market import Timeframe, empty_bars, from_ms
from arbx.domain.processing.ticks import ticks_to_bars


def in_venue_order(trades: pl.DataFrame) -> pl.DataFrame:
    """A trade frame sorted by time, then by the venue's trade id (as a number when it is one)."""
    return (
        trades.with_columns(pl.col("trade_id").cast(pl.Int64, strict=False).alias("_n"))
        .sort(["ts", "_n", "trade_id"], nulls_last=True, maintain_order=True)
        .drop("_n")
    )


def closed_bars(
    trades: pl.DataFrame, timeframe: Timeframe, start_ms: int, end_ms: int
) -> pl.DataFrame:
    """OHLCV bars (``BAR_SCHEMA``) of the intervals inside ``[start_ms, end_ms)`` (both ends
    taken to the timeframe's grid: the first interval starting at or after ``start_ms``, the
    last ending at or before ``end_ms``) that hold at least one trade."""
    width = timeframe.ms
    lo = -(-start_ms // width) * width
    hi = end_ms // width * width
    if hi <= lo or trades.is_empty():
        return empty_bars()
    inside = trades.filter((pl.col("ts") >= _instant(lo)) & (pl.col("ts") < _instant(hi)))
    if inside.is_empty():
        return empty_bars()
    ordered = in_venue_order(inside)
    return ticks_to_bars(ordered.select("ts", "price", "qty"), timeframe)


def _instant(ms: int) -> pl.Expr:
    """An epoch-ms instant as a literal comparable with µs trade times."""
    return pl.lit(from_ms(ms)).dt.cast_time_unit("us")
