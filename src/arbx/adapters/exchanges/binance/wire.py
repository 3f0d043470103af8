"""Binance REST payloads exactly as the venue sends them (frozen msgspec structs)."""

from __future__ import annotations

import msgspec


class BinanceKline(msgspec.Struct, array_like=True, frozen=True):
    """GET /api/v3/klines row: 12 fields, prices as strings (decoded leniently to float)."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    close_time: int
    quote_volume: float
    trades: int


KLINE_FIELDS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trades",
    "taker_buy_base_volume",
    "taker_buy_quote_volume",
    "ignore",
)


class BinanceError(msgspec.Struct, frozen=True):
    """Every Binance error body: {"code": -1121, "msg": "Invalid symbol."}."""

    code: int
    msg: str


class BinanceFilter(msgspec.Struct, frozen=True):
    """One entry of a symbol's ``filters``; only PRICE_FILTER and LOT_SIZE are read."""

    filterType: str
    tickSize: float | None = None
    stepSize: float | None = None
    minQty: float | None = None


class BinanceSymbol(msgspec.Struct, frozen=True):
    symbol: str
    status: str
    baseAsset: str
    quoteAsset: str
    filters: list[BinanceFilter] = []


class BinanceExchangeInfo(msgspec.Struct, frozen=True):
    """GET /api/v3/exchangeInfo (only the fields arbx uses)."""

    symbols: list[BinanceSymbol]
    serverTime: int | None = None


class BinanceTime(msgspec.Struct, frozen=True):
    """GET /api/v3/time."""

    serverTime: int


KLINES = msgspec.json.Decoder(list[BinanceKline], strict=False)
ERROR = msgspec.json.Decoder(BinanceError)
EXCHANGE_INFO = msgspec.json.Decoder(BinanceExchangeInfo, strict=False)
TIME = msgspec.json.Decoder(BinanceTime)


class BinanceAggTrade(msgspec.Struct, frozen=True):
    """GET /api/v3/aggTrades row: ``a`` aggregate id, ``p`` price, ``q`` quantity, ``T``
    time (ms), ``m`` true when the buyer was the maker (the taker sold)."""

    a: int
    p: float
    q: float
    T: int
    m: bool
    f: int | None = None
    l: int | None = None  # noqa: E741 - Binance's own name


AGG_TRADES = msgspec.json.Decoder(list[BinanceAggTrade], strict=False)
