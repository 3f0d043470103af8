"""A BookStore in an S3-compatible bucket, the layout of the Parquet book store:

- quotes: ``<prefix>/quotes/<venue>/<BASE-QUOTE>/<YYYY-MM-DD>.parquet``, sorted by time;
- book updates: ``<prefix>/books/<venue>/<BASE-QUOTE>/<YYYY-MM-DD>.parquet``, sorted by time,
  sequence, kind, side, price.

Kept as the object-store trade store keeps trades (``DayObjects``, see ``day_objects``): a write
checks the whole frame first (an invalid row stores nothing), merges the new rows (by their
key) into each day object it touches and replaces it with ONE conditional PUT (If-Match its
ETag, or create-only), so a crash leaves every day object whole, writing the same frame again
completes it, and a writer in another process that replaced a day first makes this write fail
with ``Conflict`` (retry it) instead of losing rows.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from arbx.adapters.objectstore.connect import S3Options, s3_store, split_url
from arbx.adapters.objectstore.day_objects import DayObjects, root_of
from arbx.domain.market import TimeSpan
from arbx.domain.market.books import (
    BOOK_COLUMNS,
    QUOTE_COLUMNS,
    check_book,
    check_quotes,
    empty_book,
    empty_quotes,
    merge_book,
    merge_quotes,
)
from arbx.domain.market.trades import TradeKey
from arbx.ports.book_store import BookStore


class ObjectStoreBookStore(BookStore):
    def __init__(self, store: Any, prefix: str = "") -> None:
        self._quotes = DayObjects(
            store,
            root_of(prefix, "quotes"),
            rows="quotes",
            columns=QUOTE_COLUMNS,
            empty=empty_quotes,
            merge=merge_quotes,
        )
        self._book = DayObjects(
            store,
            root_of(prefix, "books"),
            rows="book updates",
            columns=BOOK_COLUMNS,
            empty=empty_book,
            merge=merge_book,
        )

    @classmethod
    def from_url(cls, url: str, options: S3Options | None = None) -> ObjectStoreBookStore:
        bucket, prefix = split_url(url)
        return cls(s3_store(bucket, options), prefix)

    async def write_quotes(self, key: TradeKey, quotes: pl.DataFrame) -> int:
        check_quotes(quotes)
        return await self._quotes.write(key, quotes)

    async def read_quotes(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        return await self._quotes.read(key, span)

    async def quote_keys(self) -> list[TradeKey]:
        return await self._quotes.keys()

    async def write_book(self, key: TradeKey, rows: pl.DataFrame) -> int:
        check_book(rows)
        return await self._book.write(key, rows)

    async def read_book(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        return await self._book.read(key, span)

    async def book_keys(self) -> list[TradeKey]:
        return await self._book.keys()
