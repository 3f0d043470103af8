"""The trade stream port: a live source of trades (a venue's WebSocket), with its counters."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections import deque
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


LAG_SAMPLES = 2048  # lag samples kept per stream (the newest) for its p50 and p99


class LagWindow:
    """The newest ``size`` lag samples (ms, exchange time to stored) and their percentiles:
    bounded memory whatever the stream's length."""

    __slots__ = ("_samples", "last_ms", "max_ms")

    def __init__(self, size: int = LAG_SAMPLES) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self.last_ms: float | None = None
        self.max_ms: float | None = None

    def add(self, lag_ms: float) -> None:
        self._samples.append(lag_ms)
        self.last_ms = lag_ms
        self.max_ms = lag_ms if self.max_ms is None else max(self.max_ms, lag_ms)

    def __len__(self) -> int:
        return len(self._samples)

    def percentile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1, nearest rank) of the kept samples; None without any."""
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        rank = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
        return ordered[rank]


@dataclass(slots=True)
class StreamStats:
    """What a stream did so far (one per source; the use case adds what it stored).

    The source counts connections, messages, bytes and what it decoded (``items``: trades,
    candles or quotes; ``trades`` for trade streams); the use case that stores them counts
    ``stored``, the queue (``queue_depth`` now, ``queue_max`` its high-water mark,
    ``queue_size`` its bound), ``drops`` (only a policy that may drop does: never trades)
    and the ``lag`` from exchange time to stored. Book streams count ``gaps`` (sequence
    gaps or bad checksums seen) and ``gaps_healed`` (resynced from a fresh snapshot).
    ``started_at`` (epoch s) is set when the stream starts; rates are per second since."""

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
    items: int = 0
    stored: int = 0
    gaps_healed: int = 0
    drops: int = 0
    queue_depth: int = 0
    queue_max: int = 0
    queue_size: int = 0
    started_at: float | None = None
    last_message_at: float | None = None
    connected: bool = False  # a socket is open now (the stream_disconnected alert reads it)
    lag: LagWindow = field(default_factory=LagWindow)

    def failed(self, error: str) -> None:
        self.last_error = error
        self.errors = [*self.errors[-9:], error]

    def rates(self, now: float) -> tuple[float, float]:
        """(messages/s, bytes/s) since ``started_at`` (0 before it)."""
        if self.started_at is None or now <= self.started_at:
            return 0.0, 0.0
        elapsed = now - self.started_at
        return self.messages / elapsed, self.bytes / elapsed


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
