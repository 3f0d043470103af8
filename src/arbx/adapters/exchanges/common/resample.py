"""Aggregate bars of a finer venue timeframe into the requested one (epoch-aligned grid)."""

from __future__ import annotations

import polars as pl

from arbx.domain.market import BAR_SCHEMA, Timeframe


def resample_bars(bars: pl.DataFrame, timeframe: Timeframe) -> pl.DataFrame:
    """OHLCV of each ``timeframe`` bucket: first open, max high, min low, last close, sum volume.

    ``bars`` must be sorted by ts. A bucket with no finer bar yields no row (a quiet interval
    stays a hole). Buckets are aligned on the UTC epoch grid of ``timeframe``.
    """
    if bars.is_empty():
        return bars.select(list(BAR_SCHEMA))
    ms = timeframe.ms
    bucket = (pl.col("ts").dt.epoch("ms") // ms * ms).cast(pl.Int64).cast(BAR_SCHEMA["ts"])
    return (
        bars.with_columns(bucket.alias("__bucket"))
        .group_by("__bucket", maintain_order=True)
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
        )
        .rename({"__bucket": "ts"})
        .select(list(BAR_SCHEMA))
    )
