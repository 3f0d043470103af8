"""The trade store port: trades per (venue, symbol), idempotent by the venue's trade id."""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

import polars as pl

from arbx.domain.market import TimeSpan
from arbx.domain.market.trades import TradeKey


class TradeStore(Protocol):
    """Contract (tests/contract/test_trade_store.py holds every adapter to it):

    - ``write`` stores the trades of a ``TRADE_SCHEMA`` frame that it does not hold yet (by
      trade id) and returns how many were new; a frame with an invalid row raises
      ``InvalidInput`` and stores nothing; a write is all or nothing per call.
    - ``read`` returns the stored trades with ``span.start <= ts < span.end``, sorted by time
      then trade id (an empty frame when there are none).
    - ``keys`` lists the (venue, symbol) pairs that hold trades.
    """

    @abstractmethod
    async def write(self, key: TradeKey, trades: pl.DataFrame) -> int: ...

    @abstractmethod
    async def read(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame: ...

    @abstractmethod
    async def keys(self) -> list[TradeKey]: ...
