"""A TradeStore of Parquet files: ``trades/<venue>/<BASE-QUOTE>/<YYYY-MM-DD>.parquet``.

One file per UTC day of trade time, sorted by time then trade id. A write merges the new
trades into each day file it touches (trades already held, by trade id, are skipped) and
replaces that file atomically: the new version is written to a temporary file in the same
folder, fsynced, renamed over the old one and the folder fsynced. A crash leaves every day
file whole (old or new); since writes are idempotent, writing the same batch again completes
it. Writes to one pair are serialized by a lock per pair (one process: ``arbx serve`` or one
``arbx stream run``); reads take no lock and see each day file before or after a write.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from arbx.adapters.parquet.transaction import COMPRESSION, fsync_dir, fsync_file, make_dirs
from arbx.domain.errors import StorageError
from arbx.domain.market import Symbol, TimeSpan
from arbx.domain.market.trades import (
    TRADE_COLUMNS,
    TradeKey,
    check_trades,
    empty_trades,
    merge_trades,
    trades_in,
)
from arbx.ports.trade_store import TradeStore

_DAY_US = 86_400_000_000
_TEMP = ".tmp-"


class ParquetTradeStore(TradeStore):
    def __init__(self, root: Path) -> None:
        self._root = root
        self._locks: dict[TradeKey, asyncio.Lock] = {}

    async def write(self, key: TradeKey, trades: pl.DataFrame) -> int:
        check_trades(trades)
        if trades.is_empty():
            return 0
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            return await asyncio.to_thread(self._write_sync, key, trades)

    async def read(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        return await asyncio.to_thread(self._read_sync, key, span)

    async def keys(self) -> list[TradeKey]:
        return await asyncio.to_thread(self._keys_sync)

    # -- blocking work, in a worker thread ------------------------------------------------------

    def _folder(self, key: TradeKey) -> Path:
        return self._root / key.venue / key.symbol.slug

    def _write_sync(self, key: TradeKey, trades: pl.DataFrame) -> int:
        folder = self._folder(key)
        days = trades.with_columns(
            (pl.col("ts").dt.epoch("us") // _DAY_US).alias("_day")
        ).partition_by("_day", as_dict=True, include_key=False)
        new = 0
        try:
            make_dirs(folder)
            for (day,), part in sorted(days.items()):
                path = folder / f"{_day_name(int(day))}.parquet"
                stored = pl.read_parquet(path) if path.exists() else empty_trades()
                merged, added = merge_trades(stored, part.select(TRADE_COLUMNS))
                if added:
                    _replace(path, merged)
                    new += added
        except OSError as exc:
            raise StorageError(f"cannot write the trades of {key} under {folder}: {exc}") from exc
        return new

    def _read_sync(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        folder = self._folder(key)
        if not folder.is_dir():
            return empty_trades()
        start_us, end_us = span.start_ms * 1000, span.end_ms * 1000
        first, last = start_us // _DAY_US, (end_us - 1) // _DAY_US
        frames = []
        for path in sorted(folder.glob("*.parquet")):
            day = _day_of(path)
            if day is not None and first <= day <= last:
                frames.append(pl.read_parquet(path))
        if not frames:
            return empty_trades()
        return trades_in(pl.concat(frames), start_us, end_us)

    def _keys_sync(self) -> list[TradeKey]:
        found: list[TradeKey] = []
        if not self._root.is_dir():
            return found
        for venue in sorted(p for p in self._root.iterdir() if p.is_dir()):
            for pair in sorted(p for p in venue.iterdir() if p.is_dir()):
                if any(pair.glob("*.parquet")):
                    found.append(TradeKey(venue.name, Symbol.parse(pair.name)))
        return found


def _day_name(day: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).strftime("%Y-%m-%d")


def _day_of(path: Path) -> int | None:
    try:
        moment = datetime.strptime(path.stem, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None  # not a day file (a temporary file of a write that never finished)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)).days


def _replace(path: Path, frame: pl.DataFrame) -> None:
    temp = path.with_name(f"{_TEMP}{uuid.uuid4().hex}.parquet.part")
    try:
        frame.write_parquet(temp, compression=COMPRESSION, statistics=True)
        fsync_file(temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(path.parent)
