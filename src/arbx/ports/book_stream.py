"""The book stream port: a live source of a venue's L2 book updates (Binance depth diffs with
the REST snapshot, Coinbase level2, Kraken v2 book), kept consistent by the source."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator
from typing import Protocol

from arbx.domain.market import Symbol
from arbx.domain.market.books import BookUpdate
from arbx.domain.orderbook.book import Level
from arbx.ports.trade_stream import StreamStats


class BookSource(Protocol):
    """Batches of book updates as they arrive, kept up through disconnects.

    Contract: as ``TradeSource`` for connecting, reconnecting and failing. Besides:

    - Per symbol the updates are a snapshot followed by diffs that each apply to the book the
      previous ones built (sequence checked, and the checksum where the venue sends one). A
      gap, a bad checksum or a crossed book is counted in ``stats`` and logged, the symbol's
      book is dropped, and nothing more is delivered for it until a fresh snapshot (a
      ``resync``), which is delivered next: what was delivered replays to the venue's book.
    - ``request_resync(symbol)`` asks for such a fresh snapshot (a consumer that had to drop a
      diff calls it, so its own record heals).
    - ``current(symbol, depth)`` answers the book as it is now (best ``depth`` levels per side,
      best first) and raises ``BookNotReady`` while it is known to be inconsistent.
    """

    stats: StreamStats

    @abstractmethod
    def batches(self) -> AsyncIterator[list[BookUpdate]]: ...

    @abstractmethod
    def request_resync(self, symbol: Symbol) -> None: ...

    @abstractmethod
    def current(self, symbol: Symbol, depth: int) -> tuple[list[Level], list[Level]]: ...
