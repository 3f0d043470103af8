"""One venue's stream over an aiohttp WebSocket, kept up through disconnects.

The connection loop (``WebSocketStream``) is shared by every channel: trades, quotes and
order books. What differs per venue and channel is a ``Channel``: the URL, the subscribe
messages, and how one message becomes items (it may hold state, as a book does, and talk
back through the ``Link``: send a message on the socket, or fetch a REST snapshot).

- Heartbeat: aiohttp pings every ``heartbeat_s`` and closes a connection whose pong does not
  come back; besides, a connection that delivers no message for ``idle_timeout_s`` (a silent
  socket: the venues send heartbeats or data far more often) is dropped and counted.
- Reconnect: exponential backoff from ``backoff_s`` doubling up to ``max_backoff_s``, with
  jitter (each delay is drawn between half and all of it, so many clients do not reconnect in
  step); the subscriptions are sent again on every connection and the channel is told
  (``on_connect``), so a book forgets what it held and waits for a fresh snapshot. The count of
  failures resets once a connection has delivered a message; after ``max_attempts`` failures
  in a row the stream raises ``StreamFailed`` naming the errors.
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

from arbx.adapters.streams.venues import StreamDecodeError, StreamVenue
from arbx.domain.market import Symbol
from arbx.domain.market.trades import Trade
from arbx.ports.trade_stream import StreamFailed, StreamStats, TradeSource

T = TypeVar("T")


class Link:
    """What a channel may do besides reading: send on the open socket, reach the venue's REST
    API with the stream's session, and update the stream's counters."""

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        session: aiohttp.ClientSession,
        stats: StreamStats,
    ) -> None:
        self._ws = ws
        self.session = session
        self.stats = stats

    async def send(self, message: Mapping[str, Any]) -> None:
        await self._ws.send_json(dict(message))


class Channel(Protocol[T]):
    """One venue's channel: where to connect, what to subscribe, how a message maps to items.

    ``handle`` raises ``StreamDecodeError`` for a message it cannot read (counted, skipped),
    ``StreamRejected`` for a refusal, and ``ConnectionError`` to drop the connection."""

    @property
    def venue(self) -> str: ...

    def url(self) -> str: ...

    def subscribe(self) -> list[dict[str, Any]]: ...

    async def on_connect(self, link: Link) -> None: ...

    async def handle(self, data: str | bytes, link: Link) -> list[T]: ...


class WebSocketStream(Generic[T]):
    """Batches of a channel's items as messages arrive (see the module docstring)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        channel: Channel[T],
        *,
        heartbeat_s: float = 20.0,
        idle_timeout_s: float = 60.0,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_attempts: int = 10,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._session = session
        self._channel = channel
        self._url = channel.url()
        self._heartbeat = heartbeat_s
        self._idle = idle_timeout_s
        self._backoff = backoff_s
        self._max_backoff = max_backoff_s
        self._max_attempts = max_attempts
        self._rng = rng or random.Random()
        self._sleep = sleep
        self.stats = StreamStats(channel.venue)

    @property
    def url(self) -> str:
        return self._url

    def _count(self, items: Sequence[T]) -> None:
        """Add a message's items to the counters (each kind of stream names its own)."""

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
                    self.stats.connected = True
                    link = Link(ws, self._session, self.stats)
                    await self._channel.on_connect(link)
                    for message in self._channel.subscribe():
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
                            self.stats.messages += 1
                            self.stats.bytes += len(msg.data)
                            self.stats.last_message_at = time.time()
                            try:
                                items = await self._channel.handle(msg.data, link)
                            except StreamDecodeError as exc:
                                self.stats.decode_errors += 1
                                self.stats.failed(str(exc))
                                continue
                            if items:
                                self.stats.items += len(items)
                                self._count(items)
                                yield items
                        elif msg.type == aiohttp.WSMsgType.ERROR:
                            raise ConnectionError(f"socket error: {ws.exception()}")
                        else:  # CLOSE, CLOSING, CLOSED
                            raise ConnectionError(f"closed by the venue (code {ws.close_code})")
            except (aiohttp.ClientError, ConnectionError, OSError, TimeoutError) as exc:
                self.stats.failed(f"{type(exc).__name__}: {exc}")
            finally:
                self.stats.connected = False
            if not delivered:
                failures += 1
            if failures >= self._max_attempts:
                raise StreamFailed(
                    f"{self._channel.venue} stream at {self._url} failed {failures} times in a"
                    f" row; last: {self.stats.last_error}"
                )
            delay = min(self._max_backoff, self._backoff * 2 ** max(0, failures - 1))
            await self._sleep(delay * (0.5 + 0.5 * self._rng.random()))


class FeedCodec(Protocol[T]):
    """One venue channel's stateless wire format: where to connect, what to send, what a
    message holds (``venues.StreamVenue`` is the trades one; candles have their own)."""

    @property
    def name(self) -> str: ...

    @property
    def default_url(self) -> str: ...

    def url(self, base: str, symbols: Sequence[Symbol]) -> str: ...

    def subscribe(self, symbols: Sequence[Symbol]) -> list[dict[str, Any]]: ...

    def venue_symbol(self, symbol: Symbol) -> str: ...

    def parse(self, data: str | bytes, pairs: Mapping[str, Symbol]) -> list[T]: ...


class CodecChannel(Generic[T]):
    """A stateless ``FeedCodec`` (trades, candles) as a ``Channel``."""

    def __init__(self, codec: FeedCodec[T], symbols: Sequence[Symbol], base_url: str) -> None:
        if not symbols:
            raise ValueError("a stream needs at least one symbol")
        self.codec = codec
        self._symbols = list(dict.fromkeys(symbols))
        self._base = base_url
        self.pairs = {codec.venue_symbol(s): s for s in self._symbols}

    @property
    def venue(self) -> str:
        return self.codec.name

    def url(self) -> str:
        return self.codec.url(self._base, self._symbols)

    def subscribe(self) -> list[dict[str, Any]]:
        return self.codec.subscribe(self._symbols)

    async def on_connect(self, link: Link) -> None:
        return None

    async def handle(self, data: str | bytes, link: Link) -> list[T]:
        return self.codec.parse(data, self.pairs)


class CodecStream(WebSocketStream[T]):
    """The connection loop over a stateless codec; ``receive`` is its per-frame work (count
    and decode one message) without a socket, as ``bench/streams.py`` measures it."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        codec: FeedCodec[T],
        symbols: Sequence[Symbol],
        *,
        url: str | None = None,
        **options: Any,
    ) -> None:
        self._codec_channel = CodecChannel(codec, symbols, url or codec.default_url)
        super().__init__(session, self._codec_channel, **options)

    def receive(self, data: str | bytes) -> list[T]:
        """Count and decode one message (an unreadable one is counted and skipped; a
        refusal raises ``StreamRejected``)."""
        stats = self.stats
        stats.messages += 1
        stats.bytes += len(data)
        stats.last_message_at = time.time()
        channel = self._codec_channel
        try:
            items = channel.codec.parse(data, channel.pairs)
        except StreamDecodeError as exc:
            stats.decode_errors += 1
            stats.failed(str(exc))
            return []
        if items:
            stats.items += len(items)
            self._count(items)
        return items


class WebSocketTrades(CodecStream[Trade], TradeSource):
    """A venue's trade channel (a ``StreamVenue``: Binance aggTrade, Coinbase matches, Kraken
    v2 trade)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        venue: StreamVenue,
        symbols: Sequence[Symbol],
        *,
        url: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(session, venue, symbols, url=url, **options)

    def _count(self, items: Sequence[Trade]) -> None:
        self.stats.trades += len(items)
