"""The trade stream port: a live source of trades (a venue's WebSocket), with its counters."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from arbx.domain.errors import ExternalError
from arbx.domain.market.trades import Trade


class StreamRejected(ExternalError):
    """The venue refused the subscription (an unknown pair, a bad channel): reconnecting
    cannot help, so the stream stops with the venue's own message."""

    title = "stream rejected"


class StreamFailed(ExternalError):
    """The stream could not be kept up: it lost its connection more times in a row than
    allowed, each with its error."""

    title = "stream failed"


@dataclass(slots=True)
class StreamStats:
    """What a stream did so far (one per source; the use case adds what it stored)."""

    venue: str
    connects: int = 0
    reconnects: int = 0
    messages: int = 0
    bytes: int = 0
    trades: int = 0
    decode_errors: int = 0
    silent_timeouts: int = 0
    # quote and book streams (issue 17): items received, book snapshots applied, sequence gaps
    # and bad checksums detected, and the fresh snapshots that healed them (resyncs)
    quotes: int = 0
    book_updates: int = 0
    snapshots: int = 0
    gaps: int = 0
    checksum_failures: int = 0
    crossed: int = 0
    resyncs: int = 0
    last_error: str | None = None
    errors: list[str] = field(default_factory=list)

    def failed(self, error: str) -> None:
        self.last_error = error
        self.errors = [*self.errors[-9:], error]


class TradeSource(Protocol):
    """Batches of trades as they arrive, kept up through disconnects.

    Contract: ``batches()`` connects, subscribes and yields the trades of each message (never
    an empty batch); after a lost or silent connection it reconnects with backoff and
    subscribes again (the venue may then send trades again: the store is idempotent); it
    raises ``StreamRejected`` when the venue refuses the subscription and ``StreamFailed``
    after too many failed attempts in a row. ``stats`` counts what happened.
    """

    stats: StreamStats

    @abstractmethod
    def batches(self) -> AsyncIterator[list[Trade]]: ...
