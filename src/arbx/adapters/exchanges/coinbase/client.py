"""Coinbase Exchange public market data: candles, products, time."""

from __future__ import annotations

from datetime import datetime

import msgspec
import polars as pl

from arbx.adapters.exchanges.coinbase import wire
from arbx.adapters.exchanges.coinbase.mapping import (
    GRANULARITY,
    VENUE,
    candles_to_bars,
    iso,
    markets_from_products,
)
from arbx.adapters.exchanges.common.decoding import decode
from arbx.adapters.exchanges.common.http import HttpResponse
from arbx.adapters.exchanges.common.venue import NativePage, RequestRateClient, venue_clock_ms
from arbx.domain.errors import ExchangeError, InvalidInput
from arbx.domain.market import Timeframe, from_ms
from arbx.ports.exchange import Market


class CoinbaseClient(RequestRateClient):
    """GET /products/{id}/candles (<= 300 rows, newest first), /products, /time.

    Public endpoints allow about 10 requests per second (bursts of 15).
    """

    venue_id = VENUE
    native_timeframes = GRANULARITY
    page_limit = 300

    async def _load_markets(self) -> list[Market]:
        products = await self._http.get("/products", None, self._parse_products)
        return markets_from_products(products)

    async def _server_time(self) -> datetime:
        answer = await self._http.get("/time", None, self._parse_time)
        return from_ms(round(answer.epoch * 1000))

    async def _fetch_native(
        self, market: Market, timeframe: Timeframe, start_ms: int, end_ms: int
    ) -> NativePage:
        window_end = min(end_ms, start_ms + self.page_limit * timeframe.ms)
        params = {
            "granularity": GRANULARITY[timeframe],
            "start": iso(start_ms),
            "end": iso(window_end - timeframe.ms),  # inclusive: at most 300 buckets
        }
        for _ in range(2):
            bars, venue_now = await self._http.get(
                f"/products/{market.venue_symbol}/candles",
                params,
                lambda response: self._parse_candles(
                    response, market, timeframe, start_ms, window_end
                ),
            )
            # An empty answer for a window inside the span is more likely a hiccup than
            # 300 intervals without a trade: ask once more before taking it as the answer.
            if not bars.is_empty() or window_end >= end_ms:
                break
        return NativePage(bars, window_end, closed_until_ms=venue_now)

    # -- parsing ----------------------------------------------------------------------------

    def _parse_candles(
        self,
        response: HttpResponse,
        market: Market,
        timeframe: Timeframe,
        start_ms: int,
        end_ms: int,
    ) -> tuple[pl.DataFrame, int | None]:
        """(closed candles in [start, end), the venue's clock when the answer gives it)."""
        self._raise_for_error(response, market)
        rows = decode(
            wire.CANDLES, response.body, venue=VENUE, what="candles", row_fields=wire.CANDLE_FIELDS
        )
        venue_now = venue_clock_ms(response)
        if venue_now is not None:
            # the newest bucket may still be in progress at the venue's clock (not ours)
            end_ms = min(end_ms, timeframe.floor_ms(venue_now))
        return candles_to_bars(rows, start_ms, end_ms), venue_now

    def _parse_products(self, response: HttpResponse) -> list[wire.CoinbaseProduct]:
        self._raise_for_error(response)
        return decode(wire.PRODUCTS, response.body, venue=VENUE, what="products")

    def _parse_time(self, response: HttpResponse) -> wire.CoinbaseTime:
        self._raise_for_error(response)
        return decode(wire.TIME, response.body, venue=VENUE, what="time")

    def _raise_for_error(self, response: HttpResponse, market: Market | None = None) -> None:
        if response.status < 400:
            return
        try:
            message = wire.ERROR.decode(response.body).message
        except msgspec.MsgspecError:
            message = response.body[:200].decode("utf-8", "replace")
        if response.status == 404 and market is not None:
            raise self.refused_listed_symbol(market, f"HTTP 404 {message}")
        if "granularity" in message.lower():
            raise InvalidInput(f"coinbase rejected the granularity: {message}", field="timeframe")
        raise ExchangeError(
            f"coinbase answered HTTP {response.status} on {response.path}: {message}",
            venue=VENUE,
        )
