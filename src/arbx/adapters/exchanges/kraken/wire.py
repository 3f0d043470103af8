"""Kraken REST payloads as the venue sends them (frozen msgspec structs).

Every answer is an envelope ``{"error": [...], "result": {...}}``; errors come inside an
HTTP 200 body.
"""

from __future__ import annotations

import msgspec


class KrakenOhlcRow(msgspec.Struct, array_like=True, frozen=True):
    """[time (s, int), open, high, low, close, vwap, volume, count]; prices are strings."""

    time: int
    open: float
    high: float
    low: float
    close: float
    vwap: float
    volume: float
    count: int


OHLC_FIELDS = ("time", "open", "high", "low", "close", "vwap", "volume", "count")


class KrakenOhlcResponse(msgspec.Struct, frozen=True):
    """GET /0/public/OHLC: result holds the pair's rows under Kraken's pair name and ``last``."""

    error: list[str]
    result: dict[str, msgspec.Raw] | None = None


class KrakenAssetPair(msgspec.Struct, frozen=True):
    """One entry of GET /0/public/AssetPairs (only the fields arbx reads)."""

    altname: str
    base: str
    quote: str
    wsname: str | None = None
    lot_decimals: int | None = None
    pair_decimals: int | None = None
    tick_size: float | None = None
    ordermin: float | None = None
    status: str = "online"


class KrakenAssetPairsResponse(msgspec.Struct, frozen=True):
    error: list[str]
    result: dict[str, KrakenAssetPair] | None = None


class KrakenTime(msgspec.Struct, frozen=True):
    unixtime: int
    rfc1123: str | None = None


class KrakenTimeResponse(msgspec.Struct, frozen=True):
    error: list[str]
    result: KrakenTime | None = None


OHLC = msgspec.json.Decoder(KrakenOhlcResponse, strict=False)
OHLC_ROWS = msgspec.json.Decoder(list[KrakenOhlcRow], strict=False)
OHLC_LAST = msgspec.json.Decoder(int, strict=False)
ASSET_PAIRS = msgspec.json.Decoder(KrakenAssetPairsResponse, strict=False)
TIME = msgspec.json.Decoder(KrakenTimeResponse, strict=False)


class KrakenTradeRow(msgspec.Struct, array_like=True, frozen=True):
    """GET /0/public/Trades row: [price, volume, time (s, float), side b/s (the taker's),
    order type m/l, misc, trade_id] (newer answers append more fields: ignored)."""

    price: float
    volume: float
    time: float
    side: str
    ordertype: str
    misc: str
    trade_id: int


TRADE_FIELDS = ("price", "volume", "time", "side", "ordertype", "misc", "trade_id")
TRADE_ROWS = msgspec.json.Decoder(list[KrakenTradeRow], strict=False)
TRADES_LAST = msgspec.json.Decoder(str | int, strict=False)
