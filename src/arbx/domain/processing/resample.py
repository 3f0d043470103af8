"""Resample a bar series to a coarser timeframe.

Buckets are the target timeframe's epoch grid (``Timeframe.floor_ms``), labelled at their open.
open = first open, high = max high, low = min low, close = last close, volume = sum. A bucket is
``complete`` when the data reach its end: the last bucket is incomplete when the series stops
before the bucket closes (``until``, default the last bar's close). Interior buckets with
missing source bars (a venue that omits quiet minutes) are complete: the data went past them.

Eager on purpose: polars' sorted ``group_by_dynamic`` runs 3x faster eagerly than through the
lazy engine on 10M rows (measured with polars 2.1, bench/processing.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market import BAR_COLUMNS, Timeframe, to_ms

Incomplete = Literal["drop", "flag", "keep"]


def check_resample(source: Timeframe, target: Timeframe) -> None:
    if target.ms < source.ms or not source.divides(target):
        raise InvalidInput(
            f"cannot resample {source} bars to {target}: the target must be a whole multiple"
            f" of the source timeframe",
            field="timeframe",
        )


def resample(
    bars: pl.DataFrame,
    source: Timeframe,
    target: Timeframe,
    *,
    incomplete: Incomplete = "drop",
    until: datetime | None = None,
) -> pl.DataFrame:
    """Bars of ``source`` timeframe (canonical columns, sorted by ts) aggregated to ``target``.

    ``incomplete``: ``drop`` the last bucket when the data stop before it closes, ``flag``
    every bucket with a boolean ``complete`` column, or ``keep`` it unmarked.
    """
    check_resample(source, target)
    if incomplete not in ("drop", "flag", "keep"):
        raise InvalidInput(
            f"incomplete={incomplete!r} is not one of drop, flag, keep", field="incomplete"
        )
    ts = bars.get_column("ts")
    if not ts.is_sorted():
        raise InvalidInput("bars must be sorted by ts to be resampled", field="ts")
    frame = bars.select(BAR_COLUMNS).with_columns(ts.set_sorted())
    grouped = frame.group_by_dynamic(
        "ts", every=target.polars_every, label="left", closed="left"
    ).agg(
        pl.col("open").first(),
        pl.col("high").max(),
        pl.col("low").min(),
        pl.col("close").last(),
        pl.col("volume").sum(),
    )
    if incomplete == "keep":
        return grouped
    if grouped.is_empty():
        return (
            grouped
            if incomplete == "drop"
            else grouped.with_columns(pl.lit(True).alias("complete"))
        )
    data_end = to_ms(until) if until is not None else to_ms(ts[-1]) + source.ms
    complete = pl.col("ts").dt.epoch("ms") + target.ms <= data_end
    if incomplete == "drop":
        return grouped.filter(complete)
    return grouped.with_columns(complete.alias("complete"))
