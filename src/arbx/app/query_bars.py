"""Read bars and stored series: paging for long ranges, export to files."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.suggestions import unknown
from arbx.ports.bar_store import BarStore, SeriesInfo
from arbx.ports.table_files import Location, TableFiles


class BarPage(msgspec.Struct, frozen=True):
    """Up to ``limit`` bars; ``next_start`` is where the next page starts (None at the end)."""

    key: SeriesKey
    span: TimeSpan
    bars: pl.DataFrame
    next_start: int | None


class QueryBars:
    def __init__(self, store: BarStore, max_limit: int) -> None:
        self._store = store
        self.max_limit = max_limit

    async def page(self, key: SeriesKey, span: TimeSpan, limit: int | None = None) -> BarPage:
        """Bars in ``span``, at most ``limit`` of them, and the cursor of the next page.

        The cursor is the open time (epoch ms) of the first bar not returned; pass it as the
        next request's start.
        """
        limit = self.max_limit if limit is None else limit
        if not 1 <= limit <= self.max_limit:
            raise InvalidInput(f"limit must be between 1 and {self.max_limit}", field="limit")
        # Read at most limit+1 bars' worth of time per round so a long range stays cheap.
        window_end = min(span.end, span.start + key.timeframe.duration * (limit + 1))
        bars = await self._store.read(key, TimeSpan(span.start, window_end))
        while bars.height <= limit and window_end < span.end:
            # sparse data: widen the window until we have limit+1 bars or reach the end
            grown = min(span.end, window_end + (window_end - span.start) * 3 + timedelta(days=1))
            more = await self._store.read(key, TimeSpan(window_end, grown))
            bars = _joined(bars, more)
            window_end = grown
        next_start = None
        if bars.height > limit:
            # ts is Datetime("ms"): its physical value is the epoch ms (no expression to run)
            next_start = int(bars.get_column("ts").to_physical()[limit])
            bars = bars.head(limit)
        return BarPage(key, span, bars, next_start)

    async def all(self, key: SeriesKey, span: TimeSpan) -> pl.DataFrame:
        return await self._store.read(key, span)


def _joined(head: pl.DataFrame, tail: pl.DataFrame) -> pl.DataFrame:
    """``head`` then ``tail``; no concatenation (it costs more than a cheap read) when one is
    empty, as while a window still widens before the first bar of a series."""
    if tail.is_empty():
        return head
    if head.is_empty():
        return tail
    return pl.concat([head, tail])


class ListSeries:
    def __init__(self, store: BarStore) -> None:
        self._store = store

    async def execute(self) -> list[SeriesInfo]:
        return await self._store.list_series()


class ExportBars:
    def __init__(self, store: BarStore, files: TableFiles) -> None:
        self._store = store
        self._files = files

    async def execute(self, key: SeriesKey, span: TimeSpan, path: Location) -> int:
        """Write the bars of ``span`` to a file or an s3:// object; the rows written."""
        bars = await self._store.read(key, span)
        if bars.is_empty():
            stored = [str(info.key) for info in await self._store.list_series()]
            if stored and str(key) not in stored:
                raise InvalidInput(unknown("series", str(key), stored), field="series")
            raise InvalidInput(f"no bars of {key} in {span}; nothing to export", field="span")
        await asyncio.to_thread(self._files.write, bars, path)  # off the event loop
        return bars.height
