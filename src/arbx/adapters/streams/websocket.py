"""One venue's trade stream over an aiohttp WebSocket, kept up through disconnects.

- Heartbeat: aiohttp pings every ``heartbeat_s`` and closes a connection whose pong does not
  come back; besides, a connection that delivers no message for ``idle_timeout_s`` (a silent
  socket: the venues send heartbeats or trades far more often) is dropped and counted.
- Reconnect: exponential backoff from ``backoff_s`` doubling up to ``max_backoff_s``, with
  jitter (each delay is drawn between half and all of it, so many clients do not reconnect in
  step); the subscriptions are sent again on every connection. The count of failures resets
  once a connection has delivered a message; after ``max_attempts`` failures in a row the
  stream raises ``StreamFailed`` naming the errors.
- A message that cannot be read is counted (``decode_errors``) and skipped; a refused
  subscription (``StreamRejected``) ends the stream at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

import aiohttp

from arbx.adapters.streams.venues import StreamDecodeError
from arbx.domain.market import Symbol
from arbx.domain.market.trades import Trade
from arbx.ports.trade_stream import StreamFailed, StreamStats, TradeSource

T = TypeVar("T")


class FeedCodec(Protocol[T]):
    """One venue channel's wire format: where to connect, what to send, what a message holds
    (``StreamVenue`` is the trades one; candles, quotes and books have their own)."""

    @property
    def name(self) -> str: ...

    @property
    def default_url(self) -> str: ...

    def url(self, base: str, symbols: Sequence[Symbol]) -> str: ...

    def subscribe(self, symbols: Sequence[Symbol]) -> list[dict[str, Any]]: ...

    def venue_symbol(self, symbol: Symbol) -> str: ...

    def parse(self, data: str | bytes, pairs: Mapping[str, Symbol]) -> list[T]: ...


class WebSocketFeed(Generic[T]):
    """The connection loop of every channel; ``batches`` yields each message's items."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        venue: FeedCodec[T],
        symbols: Sequence[Symbol],
        *,
        url: str | None = None,
        heartbeat_s: float = 20.0,
        idle_timeout_s: float = 60.0,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_attempts: int = 10,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not symbols:
            raise ValueError("a stream needs at least one symbol")
        self._session = session
        self._venue = venue
        self._symbols = list(dict.fromkeys(symbols))
        self._url = venue.url(url or venue.default_url, self._symbols)
        self._pairs = {venue.venue_symbol(s): s for s in self._symbols}
        self._heartbeat = heartbeat_s
        self._idle = idle_timeout_s
        self._backoff = backoff_s
        self._max_backoff = max_backoff_s
        self._max_attempts = max_attempts
        self._rng = rng or random.Random()
        self._sleep = sleep
        self.stats = StreamStats(venue.name)

    @property
    def url(self) -> str:
        return self._url

    def receive(self, data: str | bytes) -> list[T]:
        """Count and decode one message: the work done per frame (an unreadable one is
        counted and skipped; a refusal raises ``StreamRejected``)."""
        stats = self.stats
        stats.messages += 1
        stats.bytes += len(data)
        stats.last_message_at = time.time()
        try:
            items = self._venue.parse(data, self._pairs)
        except StreamDecodeError as exc:
            stats.decode_errors += 1
            stats.failed(str(exc))
            return []
        if items:
            self._counted(items)
        return items

    def _counted(self, items: list[T]) -> None:
        self.stats.items += len(items)

    async def batches(self) -> AsyncIterator[list[T]]:
        if self.stats.started_at is None:
            self.stats.started_at = time.time()
        failures = 0
        while True:
            delivered = False
            try:
                async with self._session.ws_connect(
                    self._url,
                    heartbeat=self._heartbeat,
                    autoping=True,
                    max_msg_size=1 << 22,
                    # a silent peer does not answer our close either: do not wait for it long
                    timeout=aiohttp.ClientWSTimeout(ws_close=min(5.0, self._idle)),
                ) as ws:
                    if self.stats.connects:
                        self.stats.reconnects += 1
                    self.stats.connects += 1
                    for message in self._venue.subscribe(self._symbols):
                        await ws.send_json(message)
                    while True:
                        try:
                            msg = await ws.receive(timeout=self._idle)
                        except TimeoutError:
                            self.stats.silent_timeouts += 1
                            raise ConnectionError(
                                f"no message for {self._idle:g}s (a silent socket)"
                            ) from None
                        if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                            delivered = True
                            failures = 0
                            items = self.receive(msg.data)
                            if items:
                                yield items
                        elif msg.type == aiohttp.WSMsgType.ERROR:
                            raise ConnectionError(f"socket error: {ws.exception()}")
                        else:  # CLOSE, CLOSING, CLOSED
                            raise ConnectionError(f"closed by the venue (code {ws.close_code})")
            except (aiohttp.ClientError, ConnectionError, OSError, TimeoutError) as exc:
                self.stats.failed(f"{type(exc).__name__}: {exc}")
            if not delivered:
                failures += 1
            if failures >= self._max_attempts:
                raise StreamFailed(
                    f"{self._venue.name} stream at {self._url} failed {failures} times in a row;"
                    f" last: {self.stats.last_error}"
                )
            delay = min(self._max_backoff, self._backoff * 2 ** max(0, failures - 1))
            await self._sleep(delay * (0.5 + 0.5 * self._rng.random()))


class WebSocketTrades(WebSocketFeed[Trade], TradeSource):
    """A venue's trade channel (a ``StreamVenue``: Binance aggTrade, Coinbase matches, Kraken
    v2 trade)."""

    def _counted(self, items: list[Trade]) -> None:
        self.stats.items += len(items)
        self.stats.trades += len(items)
