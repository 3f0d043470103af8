"""The trade channels of each venue's public WebSocket: where to connect, what to send to
subscribe, and how a message maps to trades. Wire structs in msgspec, mapped to domain
trades here, at the edge (as the REST adapters do).

- Binance spot combined streams (``/stream?streams=<pair>@aggTrade``): ``a`` is the
  aggregate trade id, ``T`` the trade time (ms), ``m`` true when the buyer was the maker (so
  the taker sold).
- Coinbase Exchange ``matches`` channel: ``match`` and ``last_match`` messages; ``side`` is
  the MAKER's side, so the taker's is the other one.
- Kraken WebSocket v2 ``trade`` channel: ``snapshot`` and ``update`` messages whose ``data``
  rows carry the taker's ``side``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import msgspec

from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol
from arbx.domain.market.trades import Trade, TradeKey
from arbx.ports.trade_stream import StreamRejected


class StreamDecodeError(InvalidInput):
    """One message could not be read as the venue's format (counted and skipped)."""


class StreamVenue(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def default_url(self) -> str: ...

    def url(self, base: str, symbols: Sequence[Symbol]) -> str: ...

    def subscribe(self, symbols: Sequence[Symbol]) -> list[dict[str, Any]]: ...

    def venue_symbol(self, symbol: Symbol) -> str: ...

    def parse(self, data: str | bytes, pairs: Mapping[str, Symbol]) -> list[Trade]: ...


def _decode(data: str | bytes, kind: type[Any], venue: str) -> Any:
    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StreamDecodeError(f"{venue}: a message is not in its format: {exc}") from exc


def _pair(pairs: Mapping[str, Symbol], name: str, venue: str) -> Symbol:
    try:
        return pairs[name]
    except KeyError:
        raise StreamDecodeError(f"{venue}: a trade of {name!r}, which is not subscribed") from None


def _iso_us(text: str, venue: str) -> int:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise StreamDecodeError(f"{venue}: trade time {text!r} is not ISO-8601") from exc
    if moment.tzinfo is None:
        raise StreamDecodeError(f"{venue}: trade time {text!r} has no time zone")
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def _trade(
    key: TradeKey, trade_id: object, ts_us: int, price: float, qty: float, side: str
) -> Trade:
    try:
        return Trade(key, str(trade_id), ts_us, price, qty, side)  # type: ignore[arg-type]
    except InvalidInput as exc:
        raise StreamDecodeError(f"{key.venue}: {exc}") from exc


# -- Binance ----------------------------------------------------------------------------------


class _BinanceAggTrade(msgspec.Struct):
    e: str
    s: str
    a: int
    p: str
    q: str
    T: int
    m: bool


class _BinanceCombined(msgspec.Struct):
    stream: str | None = None
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b""))
    code: int | None = None  # an error answer: {"code": 2, "msg": "Invalid request"}
    msg: str | None = None


class _BinanceEvent(msgspec.Struct):
    e: str = ""


@dataclass(frozen=True)
class Binance:
    name: str = "binance"
    default_url: str = "wss://stream.binance.com:9443"

    def venue_symbol(self, symbol: Symbol) -> str:
        return f"{symbol.base}{symbol.quote}"

    def url(self, base: str, symbols: Sequence[Symbol]) -> str:
        streams = "/".join(f"{self.venue_symbol(s).lower()}@aggTrade" for s in symbols)
        return f"{base.rstrip('/')}/stream?streams={streams}"

    def subscribe(self, symbols: Sequence[Symbol]) -> list[dict[str, Any]]:
        return []  # the streams are named in the URL

    def parse(self, data: str | bytes, pairs: Mapping[str, Symbol]) -> list[Trade]:
        try:  # the common case in one typed decode (prices coerced from their strings)
            fast = _BINANCE_AGG.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            fast = None
        if fast is not None and fast.data is not None and fast.data.e == "aggTrade":
            row = fast.data
            key = _trade_key(self.name, _pair(pairs, row.s, self.name))
            side = "sell" if row.m else "buy"
            return [_trade(key, row.a, row.T * 1000, row.p, row.q, side)]
        outer = _decode(data, _BinanceCombined, self.name)
        if outer.code is not None:
            raise StreamRejected(f"binance refused the stream: {outer.msg}")
        if not len(outer.data):
            return []  # a reply to a request ({"result": null, "id": 1})
        event = _decode(outer.data, _BinanceEvent, self.name)
        if event.e != "aggTrade":
            return []
        row = _decode(outer.data, _BinanceAggTrade, self.name)
        key = TradeKey(self.name, _pair(pairs, row.s, self.name))
        side = "sell" if row.m else "buy"
        return [
            _trade(key, row.a, row.T * 1000, _num(row.p, self.name), _num(row.q, self.name), side)
        ]


class _BinanceAggFast(msgspec.Struct):
    e: str
    s: str
    a: int
    p: float
    q: float
    T: int
    m: bool


class _BinanceCombinedAgg(msgspec.Struct):
    data: _BinanceAggFast | None = None


_BINANCE_AGG = msgspec.json.Decoder(_BinanceCombinedAgg, strict=False)


@functools.lru_cache(maxsize=4096)
def _trade_key(venue: str, symbol: Symbol) -> TradeKey:
    """One key object per pair (made once, not per message)."""
    return TradeKey(venue, symbol)


def _num(text: str, venue: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise StreamDecodeError(f"{venue}: {text!r} is not a number") from None


# -- Coinbase Exchange ------------------------------------------------------------------------


class _CoinbaseMessage(msgspec.Struct):
    type: str
    trade_id: int | None = None
    side: str | None = None
    size: str | None = None
    price: str | None = None
    product_id: str | None = None
    time: str | None = None
    message: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Coinbase:
    name: str = "coinbase"
    default_url: str = "wss://ws-feed.exchange.coinbase.com"

    def venue_symbol(self, symbol: Symbol) -> str:
        return f"{symbol.base}-{symbol.quote}"

    def url(self, base: str, symbols: Sequence[Symbol]) -> str:
        return base

    def subscribe(self, symbols: Sequence[Symbol]) -> list[dict[str, Any]]:
        products = [self.venue_symbol(s) for s in symbols]
        return [{"type": "subscribe", "product_ids": products, "channels": ["matches"]}]

    def parse(self, data: str | bytes, pairs: Mapping[str, Symbol]) -> list[Trade]:
        msg = _decode(data, _CoinbaseMessage, self.name)
        if msg.type == "error":
            raise StreamRejected(
                f"coinbase refused the subscription: {msg.message or ''} {msg.reason or ''}".strip()
            )
        if msg.type not in ("match", "last_match"):
            return []  # subscriptions, heartbeat
        if None in (msg.trade_id, msg.side, msg.size, msg.price, msg.product_id, msg.time):
            raise StreamDecodeError(f"coinbase: a {msg.type} message lacks a field")
        key = TradeKey(self.name, _pair(pairs, str(msg.product_id), self.name))
        taker = {"buy": "sell", "sell": "buy"}.get(str(msg.side), str(msg.side))
        return [
            _trade(
                key,
                msg.trade_id,
                _iso_us(str(msg.time), self.name),
                _num(str(msg.price), self.name),
                _num(str(msg.size), self.name),
                taker,
            )
        ]


# -- Kraken (WebSocket v2) --------------------------------------------------------------------


class _KrakenTrade(msgspec.Struct):
    symbol: str
    side: str
    price: float
    qty: float
    trade_id: int
    timestamp: str


class _KrakenMessage(msgspec.Struct):
    channel: str | None = None
    type: str | None = None
    data: list[msgspec.Raw] | None = None
    method: str | None = None
    success: bool | None = None
    error: str | None = None


@dataclass(frozen=True)
class Kraken:
    name: str = "kraken"
    default_url: str = "wss://ws.kraken.com/v2"

    def venue_symbol(self, symbol: Symbol) -> str:
        return f"{symbol.base}/{symbol.quote}"

    def url(self, base: str, symbols: Sequence[Symbol]) -> str:
        return base

    def subscribe(self, symbols: Sequence[Symbol]) -> list[dict[str, Any]]:
        names = [self.venue_symbol(s) for s in symbols]
        return [
            {
                "method": "subscribe",
                "params": {"channel": "trade", "symbol": names, "snapshot": False},
            }
        ]

    def parse(self, data: str | bytes, pairs: Mapping[str, Symbol]) -> list[Trade]:
        msg = _decode(data, _KrakenMessage, self.name)
        if msg.method is not None:
            if msg.success is False:
                raise StreamRejected(f"kraken refused the subscription: {msg.error or msg}")
            return []
        if msg.channel != "trade" or not isinstance(msg.data, list):
            return []  # heartbeat, status
        trades = []
        for raw in msg.data:
            row = _decode(raw, _KrakenTrade, self.name)
            key = TradeKey(self.name, _pair(pairs, row.symbol, self.name))
            ts = _iso_us(row.timestamp, self.name)
            trades.append(_trade(key, row.trade_id, ts, row.price, row.qty, row.side))
        return trades


VENUES: dict[str, StreamVenue] = {v.name: v for v in (Binance(), Coinbase(), Kraken())}
Channel = Literal["trades"]


def stream_venue(name: str) -> StreamVenue:
    try:
        return VENUES[name]
    except KeyError:
        raise InvalidInput(
            f"no trade stream for venue {name!r}; streams exist for {', '.join(sorted(VENUES))}",
            field="venue",
        ) from None
