"""The quote/book store port: recorded best bid/ask and L2 book updates per (venue, symbol).

Frames and keys are ``arbx.domain.market.books`` (``QUOTE_SCHEMA``, ``BOOK_SCHEMA``);
(venue, symbol) is the ``TradeKey`` of trades.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

import polars as pl

from arbx.domain.market import TimeSpan
from arbx.domain.market.trades import TradeKey


class BookStore(Protocol):
    """Contract (a contract suite holds every adapter to it):

    - ``write_quotes`` / ``write_book`` store the rows of a ``QUOTE_SCHEMA`` / ``BOOK_SCHEMA``
      frame they do not hold yet (by the row's key, see ``arbx.domain.market.books``) and
      return how many were new; a frame with an invalid row raises ``InvalidInput`` and
      stores nothing; a write is all or nothing per call.
    - ``read_quotes`` / ``read_book`` return the stored rows with
      ``span.start <= ts < span.end``, sorted by time (a book frame then by sequence, kind,
      side, price); an empty frame when there are none.
    - ``quote_keys`` / ``book_keys`` list the (venue, symbol) pairs that hold rows.
    """

    @abstractmethod
    async def write_quotes(self, key: TradeKey, quotes: pl.DataFrame) -> int: ...

    @abstractmethod
    async def read_quotes(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame: ...

    @abstractmethod
    async def quote_keys(self) -> list[TradeKey]: ...

    @abstractmethod
    async def write_book(self, key: TradeKey, rows: pl.DataFrame) -> int: ...

    @abstractmethod
    async def read_book(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame: ...

    @abstractmethod
    async def book_keys(self) -> list[TradeKey]: ...
