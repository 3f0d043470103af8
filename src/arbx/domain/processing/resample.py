"""Resample a bar series to a coarser timeframe.

Buckets are the target timeframe's epoch grid (``Timeframe.floor_ms``), labelled at their open.
open = first open, high = max high, low = min low, close = last close, volume = sum. A bucket is
``complete`` when the data reach its end: the last bucket is incomplete when the series stops
before the bucket closes (``until``, default the last bar's close). Interior buckets with
missing source bars (a venue that omits quiet minutes) are complete: the data went past them.

The kernel is numpy over the sorted columns: find where each bucket starts (arithmetic for a
series with every slot present, one scan otherwise), then ``reduceat`` per column. It runs
about twice as fast as polars' ``group_by_dynamic`` on 10M rows (polars 2.1, 2 cores; see
bench/processing.py). Prices are expected valid (finite), as in every stored series.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import numpy as np
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market import BAR_COLUMNS, BAR_SCHEMA, Timeframe, empty_bars, to_ms

Incomplete = Literal["drop", "flag", "keep"]
_CHUNK = 1 << 16


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
    grouped = _aggregate(bars, source, target) if bars.height else empty_bars()
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


def _every_slot_present(ms: np.ndarray, step: int) -> bool:
    """True when ``ms`` holds consecutive grid slots (checked in cache-sized chunks)."""
    n = ms.size
    if int(ms[-1]) - int(ms[0]) != (n - 1) * step or int(ms[0]) % step:
        return False
    for lo in range(0, n - 1, _CHUNK):
        if not bool((np.diff(ms[lo : lo + _CHUNK + 1]) == step).all()):
            return False
    return True


def _bucket_starts(ms: np.ndarray, step: int, width: int) -> np.ndarray:
    """Row index where each bucket begins."""
    n = ms.size
    if _every_slot_present(ms, step):
        first = int(ms[0])
        head = (width - first % width) % width // step  # rows before the first full bucket
        inner = np.arange(head, n, width // step, dtype=np.int64)
        return inner if head == 0 else np.concatenate(([0], inner))
    bucket = ms // width
    return np.concatenate(([0], np.flatnonzero(bucket[1:] != bucket[:-1]) + 1))


def _aggregate(bars: pl.DataFrame, source: Timeframe, target: Timeframe) -> pl.DataFrame:
    ms = bars.get_column("ts").to_physical().to_numpy()
    width = target.ms
    starts = _bucket_starts(ms, source.ms, width)
    lasts = np.concatenate((starts[1:], [ms.size])) - 1
    values = {c: bars.get_column(c).cast(pl.Float64).to_numpy() for c in BAR_COLUMNS[1:]}
    stamps = ms[starts] - ms[starts] % width
    return pl.DataFrame(
        {
            "ts": stamps,
            "open": values["open"][starts],
            "high": np.maximum.reduceat(values["high"], starts),
            "low": np.minimum.reduceat(values["low"], starts),
            "close": values["close"][lasts],
            "volume": np.add.reduceat(values["volume"], starts),
        }
    ).with_columns(pl.col("ts").cast(BAR_SCHEMA["ts"]))
