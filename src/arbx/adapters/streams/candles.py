"""The candle channels of the venues' public WebSockets (closed candles only).

- Binance ``<pair>@kline_<interval>`` combined streams: ``k.x`` is true on the last message
  of a candle (it is closed); the others update the running candle and are skipped.
- Kraken WebSocket v2 ``ohlc`` (``interval`` in minutes): updates of the running candle come
  on each trade and carry no "closed" flag. A candle is closed when the message was sent at
  or after its end (``interval_begin`` + ``interval``: the snapshot's older candles), or when
  a candle of a later interval of the same pair arrives (then the last state seen of the
  earlier one is final). A pair that stops trading leaves its last candle pending until the
  next trade.
- Coinbase Exchange has no candle channel on its WebSocket (candles are REST only): build
  bars from its ``matches`` (``bars = ["1m"]`` on a trades stream).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import msgspec

from arbx.adapters.streams.venues import StreamDecodeError, _decode, _num, _pair
from arbx.adapters.streams.websocket import CodecStream
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Exchange, SeriesKey, Symbol, Timeframe
from arbx.domain.market.streams import CANDLE_TIMEFRAMES, Candle
from arbx.ports.candle_stream import CandleSource
from arbx.ports.trade_stream import StreamRejected


def _candle(
    key: SeriesKey, ts_ms: int, o: float, h: float, lo: float, c: float, v: float
) -> Candle:
    if not (0 < lo <= min(o, c) and max(o, c) <= h) or v < 0:
        raise StreamDecodeError(f"{key.exchange}: candle {key} at {ts_ms} is not a valid bar")
    return Candle(key, ts_ms, o, h, lo, c, v)


# -- Binance ----------------------------------------------------------------------------------


class _BinanceK(msgspec.Struct):
    t: int
    s: str
    i: str
    o: str
    c: str
    h: str
    l: str  # noqa: E741 - the venue's field name
    v: str
    x: bool


class _BinanceKline(msgspec.Struct):
    e: str
    k: _BinanceK


class _BinanceCombined(msgspec.Struct):
    stream: str | None = None
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b""))
    code: int | None = None
    msg: str | None = None


class _Event(msgspec.Struct):
    e: str = ""


@dataclass(frozen=True)
class BinanceKlines:
    timeframes: tuple[Timeframe, ...]
    name: str = "binance"
    default_url: str = "wss://stream.binance.com:9443"

    def venue_symbol(self, symbol: Symbol) -> str:
        return f"{symbol.base}{symbol.quote}"

    def url(self, base: str, symbols: Sequence[Symbol]) -> str:
        streams = "/".join(
            f"{self.venue_symbol(s).lower()}@kline_{tf.value}"
            for s in symbols
            for tf in self.timeframes
        )
        return f"{base.rstrip('/')}/stream?streams={streams}"

    def subscribe(self, symbols: Sequence[Symbol]) -> list[dict[str, Any]]:
        return []

    def parse(self, data: str | bytes, pairs: Mapping[str, Symbol]) -> list[Candle]:
        outer = _decode(data, _BinanceCombined, self.name)
        if outer.code is not None:
            raise StreamRejected(f"binance refused the stream: {outer.msg}")
        if not len(outer.data) or _decode(outer.data, _Event, self.name).e != "kline":
            return []
        k = _decode(outer.data, _BinanceKline, self.name).k
        if not k.x:
            return []  # the running candle: only closed ones are written
        try:
            tf = Timeframe.parse(k.i)
        except InvalidInput as exc:
            raise StreamDecodeError(f"binance: kline interval {k.i!r}: {exc.message}") from exc
        key = SeriesKey(Exchange(self.name), _pair(pairs, k.s, self.name), tf)
        n = self.name
        return [
            _candle(key, k.t, _num(k.o, n), _num(k.h, n), _num(k.l, n), _num(k.c, n), _num(k.v, n))
        ]


# -- Kraken (WebSocket v2) --------------------------------------------------------------------


class _KrakenOhlc(msgspec.Struct):
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    interval_begin: str
    interval: int


class _KrakenMessage(msgspec.Struct):
    channel: str | None = None
    type: str | None = None
    timestamp: str | None = None
    data: list[msgspec.Raw] | None = None
    method: str | None = None
    success: bool | None = None
    error: str | None = None


def _rfc3339_ms(text: str, venue: str) -> int:
    """RFC 3339 with up to nanoseconds (Kraken's) -> epoch ms."""
    head, dot, rest = text.replace("Z", "+00:00").partition(".")
    if dot:
        count = len(rest) - len(rest.lstrip("0123456789"))
        digits, zone = rest[:count], rest[count:]
        text = f"{head}.{digits[:6]}{zone}"
    else:
        text = head
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise StreamDecodeError(f"{venue}: time {text!r} is not RFC 3339") from exc
    if moment.tzinfo is None:
        raise StreamDecodeError(f"{venue}: time {text!r} has no time zone")
    return int(moment.timestamp() * 1000)


_KRAKEN_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "4h": 240, "1d": 1440}
_KRAKEN_WIDTHS = {minutes: width for width, minutes in _KRAKEN_MINUTES.items()}


@dataclass
class KrakenOhlc:
    timeframes: tuple[Timeframe, ...]
    name: str = "kraken"
    default_url: str = "wss://ws.kraken.com/v2"
    # the running candle of each (pair, minutes): emitted once a later one arrives
    _running: dict[tuple[str, int], Candle] = field(default_factory=dict)
    _emitted: dict[tuple[str, int], int] = field(default_factory=dict)

    def venue_symbol(self, symbol: Symbol) -> str:
        return f"{symbol.base}/{symbol.quote}"

    def url(self, base: str, symbols: Sequence[Symbol]) -> str:
        return base

    def subscribe(self, symbols: Sequence[Symbol]) -> list[dict[str, Any]]:
        names = [self.venue_symbol(s) for s in symbols]
        return [
            {
                "method": "subscribe",
                "params": {
                    "channel": "ohlc",
                    "symbol": names,
                    "interval": _KRAKEN_MINUTES[tf.value],
                },
            }
            for tf in self.timeframes
        ]

    def parse(self, data: str | bytes, pairs: Mapping[str, Symbol]) -> list[Candle]:
        msg = _decode(data, _KrakenMessage, self.name)
        if msg.method is not None:
            if msg.success is False:
                raise StreamRejected(f"kraken refused the subscription: {msg.error or msg}")
            return []
        if msg.channel != "ohlc" or not isinstance(msg.data, list):
            return []
        sent = _rfc3339_ms(msg.timestamp, self.name) if msg.timestamp else None
        closed: list[Candle] = []
        for raw in msg.data:
            row = _decode(raw, _KrakenOhlc, self.name)
            tf = _KRAKEN_WIDTHS.get(row.interval)
            if tf is None:
                raise StreamDecodeError(f"kraken: ohlc interval {row.interval} is not known")
            key = SeriesKey(Exchange(self.name), _pair(pairs, row.symbol, self.name), Timeframe(tf))
            candle = _candle(
                key, _rfc3339_ms(row.interval_begin, self.name),
                row.open, row.high, row.low, row.close, row.volume,
            )  # fmt: skip
            slot = (row.symbol, row.interval)
            previous = self._running.get(slot)
            if previous is not None and previous.ts_ms < candle.ts_ms:
                closed.append(previous)  # a later interval began: the earlier one is final
            if sent is not None and sent >= candle.ts_ms + row.interval * 60_000:
                closed.append(candle)  # sent after its end: final
                self._running.pop(slot, None)
            elif previous is None or previous.ts_ms <= candle.ts_ms:
                self._running[slot] = candle
        fresh = []
        for candle in closed:
            slot = (
                self.venue_symbol(candle.key.symbol),
                _KRAKEN_MINUTES[candle.key.timeframe.value],
            )
            if self._emitted.get(slot, -1) >= candle.ts_ms:
                continue  # once per candle (a snapshot after a reconnect repeats them)
            self._emitted[slot] = candle.ts_ms
            fresh.append(candle)
        return fresh


def candle_codec(venue: str, timeframes: Sequence[Timeframe]) -> BinanceKlines | KrakenOhlc:
    served = CANDLE_TIMEFRAMES.get(venue)
    if served is None:
        raise InvalidInput(
            f"{venue} has no candle channel on its WebSocket (Coinbase Exchange serves candles"
            " over REST only); build bars from its trades instead (bars = ['1m'])",
            field="channels",
        )
    bad = [tf.value for tf in timeframes if tf.value not in served]
    if bad:
        raise InvalidInput(
            f"{venue} WebSocket candles come in {', '.join(served)}; not {', '.join(bad)}",
            field="intervals",
        )
    if venue == "binance":
        return BinanceKlines(tuple(timeframes))
    return KrakenOhlc(tuple(timeframes))


class WebSocketCandles(CodecStream[Candle], CandleSource):
    """A venue's candle channel; yields closed candles."""

    @classmethod
    def open(
        cls,
        session: aiohttp.ClientSession,
        venue: str,
        timeframes: Sequence[Timeframe],
        symbols: Sequence[Symbol],
        **options: Any,
    ) -> WebSocketCandles:
        return cls(session, candle_codec(venue, timeframes), symbols, **options)
