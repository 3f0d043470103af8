"""Operations on bar frames that every store needs: upsert merge and coverage runs."""

from __future__ import annotations

import numpy as np
import polars as pl

from arbx.domain.market.bars import BAR_COLUMNS, empty_bars, validate_bars
from arbx.domain.market.model import SeriesKey, Timeframe
from arbx.domain.market.timespan import TimeSpan

_VALUE_COLUMNS = BAR_COLUMNS[1:]


def prepare_write(key: SeriesKey, bars: pl.DataFrame) -> pl.DataFrame:
    """Validate a frame for ``BarStore.write``: canonical schema, valid bars, key's grid."""
    return validate_bars(bars, key.timeframe)


def count_changes(existing: pl.DataFrame, incoming: pl.DataFrame) -> int:
    """How many ``incoming`` rows are new or differ from the stored row with the same ts."""
    if existing.is_empty():
        return incoming.height
    joined = incoming.join(existing, on="ts", how="left", suffix="_old")
    differs = pl.col("open_old").is_null()
    for column in _VALUE_COLUMNS:
        differs = differs | (pl.col(column) != pl.col(f"{column}_old"))
    return int(joined.select(differs.sum()).item())


def upsert_bars(existing: pl.DataFrame, incoming: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Merge ``incoming`` over ``existing`` on ts (incoming wins); return (merged, changed)."""
    if existing.is_empty():
        return incoming.sort("ts"), incoming.height
    changed = count_changes(existing, incoming)
    if changed == 0:
        return existing, 0
    merged = pl.concat([existing.join(incoming.select("ts"), on="ts", how="anti"), incoming]).sort(
        "ts"
    )
    return merged, changed


def covered_spans(ts: pl.Series, timeframe: Timeframe) -> list[TimeSpan]:
    """Maximal runs of consecutive grid bars in a sorted ts column, as [first, last + tf)."""
    if ts.is_empty():
        return []
    ms = ts.dt.epoch("ms").to_numpy().astype(np.int64)
    breaks = np.flatnonzero(np.diff(ms) != timeframe.ms)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [ms.size - 1]))
    return [
        TimeSpan.from_ms(int(ms[s]), int(ms[e]) + timeframe.ms)
        for s, e in zip(starts, ends, strict=True)
    ]


def slice_span(bars: pl.DataFrame, span: TimeSpan) -> pl.DataFrame:
    """Rows of a sorted bar frame with span.start <= ts < span.end."""
    if bars.is_empty():
        return empty_bars()
    return bars.filter((pl.col("ts") >= span.start) & (pl.col("ts") < span.end))
