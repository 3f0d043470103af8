"""A TradeStore in an S3-compatible bucket: ``<prefix>/trades/<venue>/<BASE-QUOTE>/<YYYY-MM-DD>.parquet``.

The layout of the Parquet trade store, one object per UTC day of trade time, kept by
``DayObjects`` (see ``day_objects``): a write merges the new trades (by trade id) into each day
object it touches and replaces it with ONE conditional PUT (If-Match its ETag, or create-only),
so a crash leaves every day object whole and a writer in another process that replaced a day
first makes this write fail with ``Conflict`` instead of losing its trades.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from arbx.adapters.objectstore.connect import S3Options, s3_store, split_url
from arbx.adapters.objectstore.day_objects import DayObjects, root_of
from arbx.domain.market import TimeSpan
from arbx.domain.market.trades import (
    TRADE_COLUMNS,
    TradeKey,
    check_trades,
    empty_trades,
    merge_trades,
)
from arbx.ports.trade_store import TradeStore


class ObjectStoreTradeStore(TradeStore):
    def __init__(self, store: Any, prefix: str = "") -> None:
        self._days = DayObjects(
            store,
            root_of(prefix, "trades"),
            rows="trades",
            columns=TRADE_COLUMNS,
            empty=empty_trades,
            merge=merge_trades,
        )

    @classmethod
    def from_url(cls, url: str, options: S3Options | None = None) -> ObjectStoreTradeStore:
        bucket, prefix = split_url(url)
        return cls(s3_store(bucket, options), prefix)

    async def write(self, key: TradeKey, trades: pl.DataFrame) -> int:
        check_trades(trades)
        return await self._days.write(key, trades)

    async def read(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        return await self._days.read(key, span)

    async def keys(self) -> list[TradeKey]:
        return await self._days.keys()
