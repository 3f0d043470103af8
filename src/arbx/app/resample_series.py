"""Resample a stored series to a coarser timeframe, and optionally store the result."""

from __future__ import annotations

from datetime import datetime

import msgspec
import polars as pl

from arbx.app.validate_series import stored_span
from arbx.domain.errors import InvalidInput
from arbx.domain.market import BAR_COLUMNS, SeriesKey, Timeframe, TimeSpan
from arbx.domain.processing import check_resample, resample
from arbx.domain.processing.resample import Incomplete
from arbx.ports.bar_store import BarStore


class ResampleResult(msgspec.Struct, frozen=True):
    """``bars``: the resampled frame (with ``complete`` when flagged); ``written``: rows
    inserted or changed in the target series (0 unless stored)."""

    source: SeriesKey
    target: SeriesKey
    span: TimeSpan
    bars: pl.DataFrame
    written: int


class ResampleSeries:
    """Aggregate a stored series to a coarser timeframe of the same venue and pair.

    A span selects the buckets whose open lies in it; each bucket aggregates its whole
    interval (the read is widened to whole buckets). With ``store=True`` the buckets are upserted into the target series; storing requires
    ``incomplete="drop"`` so a still-forming bucket is never stored as if it were final.
    """

    def __init__(self, bars: BarStore) -> None:
        self._bars = bars

    async def execute(
        self,
        key: SeriesKey,
        target: Timeframe,
        span: TimeSpan | None = None,
        *,
        incomplete: Incomplete = "drop",
        until: datetime | None = None,
        store: bool = False,
    ) -> ResampleResult:
        check_resample(key.timeframe, target)
        if store and incomplete != "drop":
            raise InvalidInput(
                "storing a resampled series needs incomplete='drop': a still-forming bucket"
                " must not be stored as a final bar",
                field="incomplete",
            )
        checked = await stored_span(self._bars, key, span)
        aligned = TimeSpan.from_ms(
            target.floor_ms(checked.start_ms), -(-checked.end_ms // target.ms) * target.ms
        )
        frame = await self._bars.read(key, aligned)
        bars = resample(frame, key.timeframe, target, incomplete=incomplete, until=until)
        if span is not None:
            bars = bars.filter((pl.col("ts") >= span.start) & (pl.col("ts") < span.end))
        target_key = SeriesKey(key.exchange, key.symbol, target)
        written = await self._bars.write(target_key, bars.select(BAR_COLUMNS)) if store else 0
        return ResampleResult(key, target_key, aligned, bars, written)
