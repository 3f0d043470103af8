"""A BookStore held in dicts: the reference adapter for the contract suite."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import polars as pl

from arbx.domain.market import TimeSpan
from arbx.domain.market.books import empty_book, empty_quotes, merge_book, merge_quotes
from arbx.domain.market.trades import TradeKey, trades_in
from arbx.ports.book_store import BookStore

Merge = Callable[[pl.DataFrame, pl.DataFrame], tuple[pl.DataFrame, int]]


class MemoryBookStore(BookStore):
    def __init__(self) -> None:
        self._quotes: dict[TradeKey, pl.DataFrame] = {}
        self._book: dict[TradeKey, pl.DataFrame] = {}
        self._lock = asyncio.Lock()

    async def _write(
        self,
        held: dict[TradeKey, pl.DataFrame],
        key: TradeKey,
        rows: pl.DataFrame,
        empty: pl.DataFrame,
        merge: Merge,
    ) -> int:
        async with self._lock:
            merged, new = merge(held.get(key, empty), rows)
            held[key] = merged
        return new

    async def write_quotes(self, key: TradeKey, quotes: pl.DataFrame) -> int:
        return await self._write(self._quotes, key, quotes, empty_quotes(), merge_quotes)

    async def write_book(self, key: TradeKey, rows: pl.DataFrame) -> int:
        return await self._write(self._book, key, rows, empty_book(), merge_book)

    async def read_quotes(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        frame = self._quotes.get(key, empty_quotes())
        return trades_in(frame, span.start_ms * 1000, span.end_ms * 1000)

    async def read_book(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        frame = self._book.get(key, empty_book())
        return trades_in(frame, span.start_ms * 1000, span.end_ms * 1000)

    async def quote_keys(self) -> list[TradeKey]:
        return _keys(self._quotes)

    async def book_keys(self) -> list[TradeKey]:
        return _keys(self._book)


def _keys(held: dict[TradeKey, pl.DataFrame]) -> list[TradeKey]:
    return sorted(
        (k for k, f in held.items() if not f.is_empty()), key=lambda k: (k.venue, k.symbol)
    )
