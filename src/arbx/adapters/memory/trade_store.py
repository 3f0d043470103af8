"""A TradeStore held in a dict: the reference adapter for the contract suite."""

from __future__ import annotations

import asyncio

import polars as pl

from arbx.domain.market import TimeSpan
from arbx.domain.market.trades import TradeKey, empty_trades, merge_trades, trades_in
from arbx.ports.trade_store import TradeStore


class MemoryTradeStore(TradeStore):
    def __init__(self) -> None:
        self._trades: dict[TradeKey, pl.DataFrame] = {}
        self._lock = asyncio.Lock()

    async def write(self, key: TradeKey, trades: pl.DataFrame) -> int:
        async with self._lock:
            merged, new = merge_trades(self._trades.get(key, empty_trades()), trades)
            self._trades[key] = merged
        return new

    async def read(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        frame = self._trades.get(key, empty_trades())
        return trades_in(frame, span.start_ms * 1000, span.end_ms * 1000)

    async def keys(self) -> list[TradeKey]:
        held = [key for key, frame in self._trades.items() if not frame.is_empty()]
        return sorted(held, key=lambda k: (k.venue, k.symbol))
