"""The bar store port: where OHLCV series live."""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Protocol

import msgspec
import polars as pl

from arbx.domain.market import SeriesKey, TimeSpan


class SeriesInfo(msgspec.Struct, frozen=True):
    """What a store holds for one series."""

    key: SeriesKey
    first_ts: datetime
    last_ts: datetime
    rows: int


class BarStore(Protocol):
    """OHLCV bars, unique on (series, ts).

    Contract (tests/contract/test_bar_store.py holds every adapter to it):
    - ``write`` takes a frame in the canonical bar schema (``arbx.domain.market.BAR_SCHEMA``)
      whose rows are valid bars on the key's timeframe grid; it upserts on (series, ts): a row
      whose ts is stored already replaces it. It returns the number of rows inserted or
      changed (rows equal to what is stored do not count). A write is atomic: after a failure
      the store holds exactly what it held before. Invalid frames raise ``InvalidInput`` and
      change nothing.
    - ``read`` returns the bars with ``span.start <= ts < span.end``, sorted by ts, in the
      canonical schema (an empty frame when there are none).
    - ``list_series`` returns one ``SeriesInfo`` per stored series, sorted by key.
    - ``coverage`` returns the covered spans: maximal runs of consecutive grid bars, each as
      [first ts, last ts + timeframe), sorted.
    - ``delete`` removes the bars in the span and returns how many it removed.
    - ``ping`` raises ``StorageUnavailable`` when the store cannot be used.
    """

    @abstractmethod
    async def write(self, key: SeriesKey, bars: pl.DataFrame) -> int: ...

    @abstractmethod
    async def read(self, key: SeriesKey, span: TimeSpan) -> pl.DataFrame: ...

    @abstractmethod
    async def list_series(self) -> list[SeriesInfo]: ...

    @abstractmethod
    async def coverage(self, key: SeriesKey, span: TimeSpan | None = None) -> list[TimeSpan]: ...

    @abstractmethod
    async def delete(self, key: SeriesKey, span: TimeSpan) -> int: ...

    @abstractmethod
    async def ping(self) -> None: ...
