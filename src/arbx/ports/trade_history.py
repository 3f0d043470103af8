"""Trade history over a venue's REST API, page by page (for backfilling the trade store)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from arbx.domain.market import Exchange, Symbol


@dataclass(frozen=True, slots=True)
class TradePage:
    """One answer: ``trades`` (``TRADE_SCHEMA``) with ``start_us <= ts < end_us`` as asked;
    ``cursor`` where the next page goes on (None: the span is done); ``requests`` made."""

    trades: pl.DataFrame
    cursor: str | None
    requests: int = 1


class TradeHistory(Protocol):
    """Contract (tests/integration/exchanges/test_trade_history.py):

    - ``fetch_trades(symbol, start_us, end_us, cursor)`` returns the next page of the venue's
      trades in ``[start_us, end_us)``: the first page with ``cursor`` None, the following
      ones with the cursor the previous page returned, until a page returns None. Pages may
      come newest first (Coinbase) or oldest first; together they hold every trade of the
      span, each once per page sequence (a trade can repeat across pages at a boundary: the
      store is idempotent by trade id).
    - An unknown symbol raises ``InvalidInput``; the venue's errors map as for candles
      (``RateLimited``, ``ExchangeUnavailable``, ``ExchangeError``).
    """

    @property
    @abstractmethod
    def venue(self) -> Exchange: ...

    @abstractmethod
    async def fetch_trades(
        self, symbol: Symbol, start_us: int, end_us: int, cursor: str | None = None
    ) -> TradePage: ...
