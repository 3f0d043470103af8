"""Kraken names and rows <-> arbx's canonical ones (XBT is BTC, XDG is DOGE)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from arbx.adapters.exchanges.common.decoding import bars_from_columns
from arbx.adapters.exchanges.kraken.wire import KrakenAssetPair, KrakenOhlcRow
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol, Timeframe
from arbx.ports.exchange import Market

VENUE = "kraken"

# OHLC ``interval`` in minutes; Kraken also has 10080 (1w) and 21600 (15d).
INTERVALS: dict[Timeframe, str] = {
    Timeframe.M1: "1",
    Timeframe.M5: "5",
    Timeframe.M15: "15",
    Timeframe.M30: "30",
    Timeframe.H1: "60",
    Timeframe.H4: "240",
    Timeframe.D1: "1440",
}

# Kraken's own asset codes -> the names everyone else uses.
ASSET_ALIASES: Mapping[str, str] = {"XBT": "BTC", "XXBT": "BTC", "XDG": "DOGE", "XXDG": "DOGE"}
_LEGACY_PREFIXED = {
    "XETH",
    "XLTC",
    "XXRP",
    "XXLM",
    "XETC",
    "XZEC",
    "XXMR",
    "XREP",
    "XMLN",
    "ZUSD",
    "ZEUR",
    "ZGBP",
    "ZCAD",
    "ZJPY",
    "ZAUD",
    "ZCHF",
}


def canonical_asset(code: str) -> str:
    code = code.upper()
    if code in ASSET_ALIASES:
        return ASSET_ALIASES[code]
    if code in _LEGACY_PREFIXED:
        return code[1:]
    return code


def symbol_of(pair: KrakenAssetPair) -> Symbol:
    if pair.wsname and "/" in pair.wsname:
        base, quote = pair.wsname.split("/", 1)
    else:
        base, quote = pair.base, pair.quote
    return Symbol(canonical_asset(base), canonical_asset(quote))


def rows_to_bars(
    rows: Sequence[KrakenOhlcRow], start_ms: int | None = None, end_ms: int | None = None
) -> pl.DataFrame:
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


def markets_from_pairs(pairs: Mapping[str, KrakenAssetPair]) -> list[Market]:
    markets: dict[Symbol, Market] = {}
    for name, pair in pairs.items():
        if name.endswith(".d"):
            continue  # dark-pool twins ("XXBTZUSD.d") are not separate markets
        try:
            symbol = symbol_of(pair)
        except InvalidInput:
            continue
        tick = pair.tick_size or None
        if tick is None and pair.pair_decimals is not None:
            tick = 10.0**-pair.pair_decimals
        markets[symbol] = Market(
            symbol=symbol,
            venue_symbol=pair.altname,
            lot_size=None if pair.lot_decimals is None else 10.0**-pair.lot_decimals,
            price_tick=tick,
            min_quantity=pair.ordermin or None,
            active=pair.status == "online",
        )
    return list(markets.values())
