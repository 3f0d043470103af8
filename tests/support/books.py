"""A hand-written in-memory ``BookStore`` for use-case and API tests of the recorded
executions (the real adapters and their contract suite live with the stream recorder)."""

from __future__ import annotations

import polars as pl

from arbx.domain.market import TimeSpan
from arbx.domain.market.books import empty_book, empty_quotes, merge_book, merge_quotes
from arbx.domain.market.trades import TradeKey


class FakeBookStore:
    def __init__(self) -> None:
        self.quotes: dict[TradeKey, pl.DataFrame] = {}
        self.books: dict[TradeKey, pl.DataFrame] = {}
        self.reads: list[tuple[str, TradeKey, TimeSpan]] = []

    async def write_quotes(self, key: TradeKey, quotes: pl.DataFrame) -> int:
        merged, new = merge_quotes(self.quotes.get(key, empty_quotes()), quotes)
        self.quotes[key] = merged
        return new

    async def read_quotes(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        self.reads.append(("quotes", key, span))
        return _cut(self.quotes.get(key, empty_quotes()), span)

    async def quote_keys(self) -> list[TradeKey]:
        return [k for k, f in self.quotes.items() if not f.is_empty()]

    async def write_book(self, key: TradeKey, rows: pl.DataFrame) -> int:
        merged, new = merge_book(self.books.get(key, empty_book()), rows)
        self.books[key] = merged
        return new

    async def read_book(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        self.reads.append(("book", key, span))
        return _cut(self.books.get(key, empty_book()), span)

    async def book_keys(self) -> list[TradeKey]:
        return [k for k, f in self.books.items() if not f.is_empty()]


def _cut(frame: pl.DataFrame, span: TimeSpan) -> pl.DataFrame:
    return frame.filter((pl.col("ts") >= span.start) & (pl.col("ts") < span.end))
