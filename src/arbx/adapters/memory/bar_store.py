"""A BarStore held in a dict: the reference adapter for the contract suite and use-case tests."""

from __future__ import annotations

import asyncio

import polars as pl

from arbx.domain.market import SeriesKey, TimeSpan, empty_bars
from arbx.domain.market.series_ops import covered_spans, prepare_write, slice_span, upsert_bars
from arbx.ports.bar_store import BarStore, SeriesInfo


class MemoryBarStore(BarStore):
    def __init__(self) -> None:
        self._series: dict[SeriesKey, pl.DataFrame] = {}
        self._lock = asyncio.Lock()

    async def write(self, key: SeriesKey, bars: pl.DataFrame) -> int:
        incoming = prepare_write(key, bars)
        if incoming.is_empty():
            return 0
        async with self._lock:
            merged, changed = upsert_bars(self._series.get(key, empty_bars()), incoming)
            self._series[key] = merged
        return changed

    async def read(self, key: SeriesKey, span: TimeSpan) -> pl.DataFrame:
        return slice_span(self._series.get(key, empty_bars()), span)

    async def list_series(self) -> list[SeriesInfo]:
        infos = []
        for key, bars in self._series.items():
            if bars.is_empty():
                continue
            infos.append(SeriesInfo(key, bars["ts"][0], bars["ts"][-1], bars.height))
        return sorted(infos, key=lambda info: info.key)

    async def coverage(self, key: SeriesKey, span: TimeSpan | None = None) -> list[TimeSpan]:
        bars = self._series.get(key, empty_bars())
        if span is not None:
            bars = slice_span(bars, span)
        return covered_spans(bars["ts"], key.timeframe)

    async def delete(self, key: SeriesKey, span: TimeSpan) -> int:
        async with self._lock:
            bars = self._series.get(key)
            if bars is None:
                return 0
            inside = (pl.col("ts") >= span.start) & (pl.col("ts") < span.end)
            kept = bars.filter(~inside)
            removed = bars.height - kept.height
            if kept.is_empty():
                del self._series[key]
            else:
                self._series[key] = kept
        return removed

    async def ping(self) -> None:
        return None
