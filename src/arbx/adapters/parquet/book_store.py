"""A BookStore of Parquet files under the data dir, one file per UTC day:

- quotes: ``<data dir>/quotes/<venue>/<BASE-QUOTE>/<YYYY-MM-DD>.parquet``, sorted by time;
- book updates: ``<data dir>/books/<venue>/<BASE-QUOTE>/<YYYY-MM-DD>.parquet``, sorted by
  time, sequence, kind, side, price.

A write checks the whole frame first (an invalid row stores nothing), merges the new rows into
each day file it touches (rows already held, by their key, are skipped) and replaces that file
atomically, as ``ParquetTradeStore`` does: temporary file in the same folder, fsync, rename,
fsync of the folder. A crash leaves every day file whole; since writes are idempotent, writing
the same frame again completes it. Writes to one pair are serialized by a lock per pair and
kind (one process); reads take no lock and see each day file before or after a write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import polars as pl

from arbx.adapters.parquet.trade_store import _day_name, _day_of, _replace
from arbx.adapters.parquet.transaction import make_dirs
from arbx.domain.errors import StorageError
from arbx.domain.market import Symbol, TimeSpan
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
from arbx.domain.market.trades import TradeKey, trades_in
from arbx.ports.book_store import BookStore

_DAY_US = 86_400_000_000
Merge = Callable[[pl.DataFrame, pl.DataFrame], tuple[pl.DataFrame, int]]


class _DayFiles:
    """One kind of record (quotes or books) in day files under ``root``."""

    def __init__(
        self,
        root: Path,
        columns: tuple[str, ...],
        empty: Callable[[], pl.DataFrame],
        merge: Merge,
    ) -> None:
        self.root = root
        self._columns = columns
        self._empty = empty
        self._merge = merge
        self._locks: dict[TradeKey, asyncio.Lock] = {}

    def folder(self, key: TradeKey) -> Path:
        return self.root / key.venue / key.symbol.slug

    async def write(self, key: TradeKey, rows: pl.DataFrame) -> int:
        if rows.is_empty():
            return 0
        async with self._locks.setdefault(key, asyncio.Lock()):
            return await asyncio.to_thread(self._write_sync, key, rows)

    def _write_sync(self, key: TradeKey, rows: pl.DataFrame) -> int:
        folder = self.folder(key)
        days = rows.with_columns(
            (pl.col("ts").dt.epoch("us") // _DAY_US).alias("_day")
        ).partition_by("_day", as_dict=True, include_key=False)
        new = 0
        try:
            make_dirs(folder)
            for (day,), part in sorted(days.items()):
                path = folder / f"{_day_name(int(day))}.parquet"
                stored = pl.read_parquet(path) if path.exists() else self._empty()
                merged, added = self._merge(stored, part.select(self._columns))
                if added:
                    _replace(path, merged)
                    new += added
        except OSError as exc:
            raise StorageError(f"cannot write the rows of {key} under {folder}: {exc}") from exc
        return new

    async def read(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        return await asyncio.to_thread(self._read_sync, key, span)

    def _read_sync(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        folder = self.folder(key)
        if not folder.is_dir():
            return self._empty()
        start_us, end_us = span.start_ms * 1000, span.end_ms * 1000
        first, last = start_us // _DAY_US, (end_us - 1) // _DAY_US
        frames = [
            pl.read_parquet(path)
            for path in sorted(folder.glob("*.parquet"))
            if (day := _day_of(path)) is not None and first <= day <= last
        ]
        if not frames:
            return self._empty()
        return trades_in(pl.concat(frames), start_us, end_us)

    async def keys(self) -> list[TradeKey]:
        return await asyncio.to_thread(self._keys_sync)

    def _keys_sync(self) -> list[TradeKey]:
        found: list[TradeKey] = []
        if not self.root.is_dir():
            return found
        for venue in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for pair in sorted(p for p in venue.iterdir() if p.is_dir()):
                if any(pair.glob("*.parquet")):
                    found.append(TradeKey(venue.name, Symbol.parse(pair.name)))
        return found


class ParquetBookStore(BookStore):
    """Quotes and book updates under ``data_dir`` (``quotes/`` and ``books/``)."""

    def __init__(self, data_dir: Path) -> None:
        self._quotes = _DayFiles(data_dir / "quotes", QUOTE_COLUMNS, empty_quotes, merge_quotes)
        self._book = _DayFiles(data_dir / "books", BOOK_COLUMNS, empty_book, merge_book)

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
