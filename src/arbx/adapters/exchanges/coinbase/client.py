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
from arbx.adapters.exchanges.common.trades import iso_us, trades_frame_from
from arbx.adapters.exchanges.common.venue import NativePage, RequestRateClient, venue_clock_ms
from arbx.domain.errors import ExchangeError, InvalidInput
from arbx.domain.market import Symbol, Timeframe, from_ms
from arbx.domain.market.trades import empty_trades
from arbx.ports.exchange import Market
from arbx.ports.trade_history import TradeHistory, TradePage

TRADES_LIMIT = 1000
TAKER = {"buy": "sell", "sell": "buy"}  # Coinbase's side is the maker's


def _cursor_after(response: HttpResponse) -> int | None:
    value = response.headers.get("CB-AFTER") or response.headers.get("cb-after")
    return int(value) if value and value.strip().isdigit() else None


class CoinbaseClient(RequestRateClient, TradeHistory):
    """GET /products/{id}/candles (<= 300 rows, newest first), /products, /time, and the
    trade history from /products/{id}/trades (newest first, ``CB-AFTER`` cursor).

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

    async def fetch_trades(
        self, symbol: Symbol, start_us: int, end_us: int, cursor: str | None = None
    ) -> TradePage:
        """Trades newest first, back from the end of the span to its start. Trade ids count
        the product's trades, so the first page is found by a binary search on ``after``
        (about 30 one-trade requests for a span long ago) rather than paging back from now."""
        market = await self.resolve(symbol)
        path = f"/products/{market.venue_symbol}/trades"
        requests = 0
        if cursor is None:
            rows, after = await self._trades(path, None, TRADES_LIMIT)
            requests += 1
            if rows and iso_us(rows[-1].time) >= end_us:  # this page is newer than the span
                found, probes = await self._first_after(path, rows[-1].trade_id, end_us)
                requests += probes
                rows, after = await self._trades(path, found, TRADES_LIMIT)
                requests += 1
        else:
            rows, after = await self._trades(path, int(cursor), TRADES_LIMIT)
            requests += 1
        if not rows:
            return TradePage(empty_trades(), None, requests)
        trades = trades_frame_from(
            [r.trade_id for r in rows],
            [iso_us(r.time) for r in rows],
            [r.price for r in rows],
            [r.size for r in rows],
            [TAKER.get(r.side, r.side) for r in rows],
            start_us=start_us,
            end_us=end_us,
            venue=VENUE,
        )
        oldest = min(iso_us(r.time) for r in rows)
        done = after is None or oldest < start_us or min(r.trade_id for r in rows) <= 1
        return TradePage(trades, None if done else str(after), requests)

    async def _trades(
        self, path: str, after: int | None, limit: int
    ) -> tuple[list[wire.CoinbaseTrade], int | None]:
        params: dict[str, str | int] = {"limit": limit}
        if after is not None:
            params["after"] = after
        return await self._http.get(path, params, self._parse_trades)

    async def _first_after(self, path: str, below: int, end_us: int) -> tuple[int, int]:
        """An ``after`` whose page starts within one page of the newest trade before
        ``end_us``: trades ``lo - 1`` is before the end, ``hi - 1`` at or after it."""
        lo, hi, probes = 1, below + 1, 0
        while hi - lo > TRADES_LIMIT // 2:
            mid = (lo + hi) // 2
            rows, _ = await self._trades(path, mid, 1)
            probes += 1
            if rows and iso_us(rows[0].time) >= end_us:
                hi = mid
            else:
                lo = mid
        return hi, probes

    # -- parsing ----------------------------------------------------------------------------

    def _parse_trades(self, response: HttpResponse) -> tuple[list[wire.CoinbaseTrade], int | None]:
        self._raise_for_error(response)
        rows = decode(wire.TRADES, response.body, venue=VENUE, what="trades")
        return sorted(rows, key=lambda r: -r.trade_id), _cursor_after(response)

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
