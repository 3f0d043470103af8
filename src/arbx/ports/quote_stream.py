"""The quote stream port: a live source of a venue's best bid and ask (Binance bookTicker,
Coinbase ticker, Kraken v2 ticker), with the same counters and failures as trade streams."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator
from typing import Protocol

from arbx.domain.market.books import Quote
from arbx.ports.trade_stream import StreamStats


class QuoteSource(Protocol):
    """Batches of quotes as they arrive, kept up through disconnects.

    Contract: as ``TradeSource``: ``batches()`` connects, subscribes and yields the quotes of
    each message (never an empty batch), reconnects with backoff and subscribes again after
    a lost or silent connection, raises ``StreamRejected`` when the venue refuses the
    subscription and ``StreamFailed`` after too many failed attempts in a row; ``stats``
    counts what happened. Quotes of one key arrive in the venue's order.
    """

    stats: StreamStats

    @abstractmethod
    def batches(self) -> AsyncIterator[list[Quote]]: ...
