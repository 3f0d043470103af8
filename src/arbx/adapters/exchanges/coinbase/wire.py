"""Coinbase Exchange REST payloads as the venue sends them (frozen msgspec structs)."""

from __future__ import annotations

import msgspec


class CoinbaseCandle(msgspec.Struct, array_like=True, frozen=True):
    """GET /products/{id}/candles row: [time (s, bucket start), low, high, open, close, volume].

    Low and high come BEFORE open and close; rows arrive newest first.
    """

    time: int
    low: float
    high: float
    open: float
    close: float
    volume: float


CANDLE_FIELDS = ("time", "low", "high", "open", "close", "volume")


class CoinbaseProduct(msgspec.Struct, frozen=True):
    """One entry of GET /products (only the fields arbx reads)."""

    id: str
    base_currency: str
    quote_currency: str
    quote_increment: float | None = None
    base_increment: float | None = None
    base_min_size: float | None = None
    status: str = "online"
    trading_disabled: bool = False


class CoinbaseTime(msgspec.Struct, frozen=True):
    """GET /time: {"iso": "2015-01-07T23:47:25.201Z", "epoch": 1420674445.201}."""

    epoch: float
    iso: str | None = None


class CoinbaseError(msgspec.Struct, frozen=True):
    """Every Coinbase Exchange error body: {"message": "NotFound"}."""

    message: str


CANDLES = msgspec.json.Decoder(list[CoinbaseCandle], strict=False)
PRODUCTS = msgspec.json.Decoder(list[CoinbaseProduct], strict=False)
TIME = msgspec.json.Decoder(CoinbaseTime, strict=False)
ERROR = msgspec.json.Decoder(CoinbaseError)


class CoinbaseTrade(msgspec.Struct, frozen=True):
    """GET /products/{id}/trades row (newest first): ``side`` is the MAKER's side."""

    trade_id: int
    price: float
    size: float
    time: str
    side: str


TRADES = msgspec.json.Decoder(list[CoinbaseTrade], strict=False)
