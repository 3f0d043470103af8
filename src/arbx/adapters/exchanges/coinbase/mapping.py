"""Coinbase Exchange names and rows <-> arbx's canonical ones."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from arbx.adapters.exchanges.coinbase.wire import CoinbaseCandle, CoinbaseProduct
from arbx.adapters.exchanges.common.decoding import bars_from_columns
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol, Timeframe, from_ms
from arbx.ports.exchange import Market

VENUE = "coinbase"

# Coinbase Exchange candles accept only these granularities (seconds).
GRANULARITY: dict[Timeframe, str] = {
    Timeframe.M1: "60",
    Timeframe.M5: "300",
    Timeframe.M15: "900",
    Timeframe.H1: "3600",
    Timeframe.H6: "21600",
    Timeframe.D1: "86400",
}


def venue_symbol(symbol: Symbol) -> str:
    return f"{symbol.base}-{symbol.quote}"


def iso(ms: int) -> str:
    return from_ms(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def candles_to_bars(
    rows: Sequence[CoinbaseCandle], start_ms: int | None = None, end_ms: int | None = None
) -> pl.DataFrame:
    """Canonical bars, ascending (Coinbase sends newest first)."""
    rows = rows[::-1]
    return bars_from_columns(
        [r.time * 1000 for r in rows],
        [r.open for r in rows],
        [r.high for r in rows],
        [r.low for r in rows],
        [r.close for r in rows],
        [r.volume for r in rows],
        start_ms=start_ms,
        end_ms=end_ms,
    )


def markets_from_products(products: Sequence[CoinbaseProduct]) -> list[Market]:
    markets = []
    for product in products:
        try:
            symbol = Symbol(product.base_currency.upper(), product.quote_currency.upper())
        except InvalidInput:
            continue
        markets.append(
            Market(
                symbol=symbol,
                venue_symbol=product.id,
                lot_size=product.base_increment or None,
                price_tick=product.quote_increment or None,
                min_quantity=product.base_min_size or None,
                active=product.status == "online" and not product.trading_disabled,
            )
        )
    return markets
