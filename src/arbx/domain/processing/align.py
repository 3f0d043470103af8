"""Align several venues' bar series on one time axis, with presence masks.

The result has ``ts`` and, for each named series, ``<name>_<column>`` for the requested
columns and ``<name>_present`` (True where that series has a bar at ts). The axis is:

- ``grid``: every slot of the timeframe between the earliest and the latest bar (or the span);
- ``union``: every ts at which at least one series has a bar;
- ``intersection``: the ts at which all series have a bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market import Timeframe, TimeSpan, coerce_bars, from_ms, to_ms
from arbx.domain.market.bars import TS_DTYPE

Axis = Literal["grid", "union", "intersection"]


def align_series(
    series: Mapping[str, pl.DataFrame],
    timeframe: Timeframe,
    *,
    axis: Axis = "grid",
    columns: Sequence[str] = ("open", "high", "low", "close", "volume"),
    span: TimeSpan | None = None,
) -> pl.DataFrame:
    """One wide frame: ``ts`` plus each series' columns and presence mask (see module doc)."""
    if not series:
        raise InvalidInput("align needs at least one series", field="series")
    if axis not in ("grid", "union", "intersection"):
        raise InvalidInput(f"axis {axis!r} is not one of grid, union, intersection", field="axis")
    for name in series:
        if not name or name == "ts":
            raise InvalidInput(f"series name {name!r} is not usable as a prefix", field="series")
    frames: dict[str, pl.LazyFrame] = {}
    for name, bars in series.items():
        canonical = coerce_bars(bars)
        if span is not None:
            canonical = canonical.filter((pl.col("ts") >= span.start) & (pl.col("ts") < span.end))
        frames[name] = canonical.lazy().select(
            "ts",
            *(pl.col(c).alias(f"{name}_{c}") for c in columns),
            pl.lit(True).alias(f"{name}_present"),
        )
    if axis == "grid":
        if span is not None:
            lo = timeframe.floor_ms(span.start_ms + timeframe.ms - 1)
            hi = span.end_ms
        else:
            bounds = (
                pl.concat(
                    [
                        f.select(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi"))
                        for f in frames.values()
                    ]
                )
                .select(pl.col("lo").min(), pl.col("hi").max())
                .collect()
            )
            if bounds.get_column("lo")[0] is None:
                return _empty(series, columns)
            lo = to_ms(bounds.get_column("lo")[0])
            hi = to_ms(bounds.get_column("hi")[0]) + 1
        base: pl.LazyFrame = (
            pl.LazyFrame(
                {
                    "ts": pl.datetime_range(
                        from_ms(lo),
                        from_ms(hi - 1),
                        interval=timeframe.polars_every,
                        eager=True,
                        time_zone="UTC",
                        time_unit="ms",
                    )
                }
            )
            if hi > lo
            else _empty_axis()
        )
    else:
        stacked: pl.LazyFrame = pl.concat([f.select("ts") for f in frames.values()])
        base = stacked.unique().sort("ts")
    joined = base
    for lazy in frames.values():
        joined = joined.join(lazy, on="ts", how="left")
    presence = [pl.col(f"{name}_present").fill_null(False) for name in series]
    result = joined.with_columns(presence).sort("ts")
    if axis == "intersection":
        result = result.filter(pl.all_horizontal(presence))
    return result.collect()


def _empty_axis() -> pl.LazyFrame:
    return pl.LazyFrame(schema={"ts": TS_DTYPE})


def _empty(series: Mapping[str, pl.DataFrame], columns: Sequence[str]) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {"ts": TS_DTYPE}
    for name in series:
        schema.update({f"{name}_{c}": pl.Float64() for c in columns})
        schema[f"{name}_present"] = pl.Boolean()
    return pl.DataFrame(schema=schema)
