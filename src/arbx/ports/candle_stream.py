"""The candle stream port: a live source of a venue's CLOSED candles (Binance kline with
``x`` true, Kraken v2 ohlc once its interval is over), with the counters of trade streams."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator
from typing import Protocol

from arbx.domain.market.streams import Candle
from arbx.ports.trade_stream import StreamStats


class CandleSource(Protocol):
    """Batches of closed candles as they arrive, kept up through disconnects.

    Contract: as ``TradeSource``; a candle is yielded only once its interval is over (a
    candle still open is never yielded); the same candle may come again after a reconnect
    (the bar store's upsert makes that harmless).
    """

    stats: StreamStats

    @abstractmethod
    def batches(self) -> AsyncIterator[list[Candle]]: ...
