"""Binance names and rows <-> arbx's canonical ones."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from arbx.adapters.exchanges.binance.wire import BinanceExchangeInfo, BinanceKline
from arbx.adapters.exchanges.common.decoding import bars_from_columns
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol, Timeframe
from arbx.ports.exchange import Market

VENUE = "binance"

# Binance also has 1s, 8h, 3d, 1w, 1M; arbx's timeframes are all native here.
INTERVALS: dict[Timeframe, str] = {tf: tf.value for tf in Timeframe}

# Request weights (Binance spot docs, "General API Information" / endpoint pages).
WEIGHT_KLINES = 2
WEIGHT_EXCHANGE_INFO = 20
WEIGHT_TIME = 1


def venue_symbol(symbol: Symbol) -> str:
    return f"{symbol.base}{symbol.quote}"


def klines_to_bars(
    rows: Sequence[BinanceKline], start_ms: int | None = None, end_ms: int | None = None
) -> pl.DataFrame:
    return bars_from_columns(
        [r.open_time for r in rows],
        [r.open for r in rows],
        [r.high for r in rows],
        [r.low for r in rows],
        [r.close for r in rows],
        [r.volume for r in rows],
        start_ms=start_ms,
        end_ms=end_ms,
    )


def markets_from_info(info: BinanceExchangeInfo) -> list[Market]:
    markets = []
    for entry in info.symbols:
        try:
            symbol = Symbol(entry.baseAsset.upper(), entry.quoteAsset.upper())
        except InvalidInput:
            continue  # an asset name arbx cannot represent; not a market we can serve
        tick = step = min_qty = None
        for flt in entry.filters:
            if flt.filterType == "PRICE_FILTER":
                tick = flt.tickSize or None
            elif flt.filterType == "LOT_SIZE":
                step = flt.stepSize or None
                min_qty = flt.minQty or None
        markets.append(
            Market(
                symbol=symbol,
                venue_symbol=entry.symbol,
                lot_size=step,
                price_tick=tick,
                min_quantity=min_qty,
                active=entry.status == "TRADING",
            )
        )
    return markets
