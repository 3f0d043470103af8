"""Binance spot public market data: klines, exchangeInfo, time."""

from __future__ import annotations

import random
from datetime import datetime

import aiohttp
import msgspec
import polars as pl

from arbx.adapters.exchanges.binance import wire
from arbx.adapters.exchanges.binance.mapping import (
    INTERVALS,
    VENUE,
    WEIGHT_EXCHANGE_INFO,
    WEIGHT_KLINES,
    WEIGHT_TIME,
    klines_to_bars,
    markets_from_info,
)
from arbx.adapters.exchanges.common.decoding import decode
from arbx.adapters.exchanges.common.http import HttpResponse, RetryPolicy, VenueHttp
from arbx.adapters.exchanges.common.ratelimit import MinuteWindow
from arbx.adapters.exchanges.common.timing import SystemTimer, Timer
from arbx.adapters.exchanges.common.venue import NativePage, VenueClient, venue_clock_ms
from arbx.domain.errors import ExchangeError, InvalidInput
from arbx.domain.market import Timeframe, from_ms
from arbx.ports.exchange import Market


class BinanceClient(VenueClient):
    """GET /api/v3/klines (<= 1000 rows), /api/v3/exchangeInfo, /api/v3/time.

    The rate limit is Binance's request weight (``weight_per_minute``), counted per fixed
    calendar minute as Binance does (a request that does not fit waits for the next minute);
    the venue's own count (X-MBX-USED-WEIGHT-1M) replaces ours when it is ahead.
    """

    venue_id = VENUE
    native_timeframes = INTERVALS
    page_limit = 1000

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        weight_per_minute: float,
        breaker_threshold: int,
        breaker_cooldown: float,
        timer: Timer | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        timer = timer or SystemTimer()
        limiter = MinuteWindow(weight_per_minute, timer)
        http = VenueHttp.with_breaker(
            VENUE,
            session,
            base_url,
            limiter=limiter,
            timer=timer,
            retry=retry,
            rng=rng,
            breaker_threshold=breaker_threshold,
            breaker_cooldown=breaker_cooldown,
            observe=self._observe_weight,
        )
        super().__init__(http, timer)

    def _observe_weight(self, response: HttpResponse) -> None:
        limiter = self._http.limiter
        venue_now = venue_clock_ms(response)
        if venue_now is not None and isinstance(limiter, MinuteWindow):
            limiter.observe_clock(venue_now)  # Binance's minutes, not ours
        used = response.headers.get("X-MBX-USED-WEIGHT-1M") or response.headers.get(
            "x-mbx-used-weight-1m"
        )
        if used is not None and used.strip().isdigit():
            limiter.observe_used(float(used))

    async def _load_markets(self) -> list[Market]:
        info = await self._http.get(
            "/api/v3/exchangeInfo", None, self._parse_info, weight=WEIGHT_EXCHANGE_INFO
        )
        return markets_from_info(info)

    async def _server_time(self) -> datetime:
        answer = await self._http.get("/api/v3/time", None, self._parse_time, weight=WEIGHT_TIME)
        return from_ms(answer.serverTime)

    async def _fetch_native(
        self, market: Market, timeframe: Timeframe, start_ms: int, end_ms: int
    ) -> NativePage:
        params: dict[str, str | int] = {
            "symbol": market.venue_symbol,
            "interval": INTERVALS[timeframe],
            "startTime": start_ms,
            "endTime": end_ms - 1,
            "limit": self.page_limit,
        }
        bars, newest_ms, closed_until = await self._http.get(
            "/api/v3/klines",
            params,
            lambda response: self._parse_klines(response, market, start_ms, end_ms),
            weight=WEIGHT_KLINES,
        )
        if newest_ms is None:
            # no kline in [startTime, endTime]
            return NativePage(bars, end_ms, closed_until_ms=closed_until)
        # A page shorter than the limit is not the end of the data (Binance and its mirrors
        # cap pages below the limit at times): go on from the last row sent; the next
        # request answers for the rest (an empty answer says nothing more exists).
        return NativePage(bars, min(end_ms, newest_ms + timeframe.ms), closed_until_ms=closed_until)

    # -- parsing ----------------------------------------------------------------------------

    def _parse_klines(
        self, response: HttpResponse, market: Market, start_ms: int, end_ms: int
    ) -> tuple[pl.DataFrame, int | None, int | None]:
        """(closed bars in [start, end), open time of the newest row sent, where the
        venue's closed klines end when the answer shows it).

        A kline is closed when its close time is before the venue's clock (the ``Date`` of
        the answer), not ours: the open kline Binance sends last is never a bar.
        """
        self._raise_for_error(response, market)
        rows = decode(
            wire.KLINES, response.body, venue=VENUE, what="klines", row_fields=wire.KLINE_FIELDS
        )
        newest = max(r.open_time for r in rows) if rows else None
        venue_now = venue_clock_ms(response)
        if venue_now is None:
            return klines_to_bars(rows, start_ms, end_ms), newest, None
        closed = [r for r in rows if r.close_time < venue_now]
        forming = [r.open_time for r in rows if r.close_time >= venue_now]
        closed_until = min(forming) if forming else venue_now
        return klines_to_bars(closed, start_ms, end_ms), newest, closed_until

    def _parse_info(self, response: HttpResponse) -> wire.BinanceExchangeInfo:
        self._raise_for_error(response)
        return decode(wire.EXCHANGE_INFO, response.body, venue=VENUE, what="exchangeInfo")

    def _parse_time(self, response: HttpResponse) -> wire.BinanceTime:
        self._raise_for_error(response)
        return decode(wire.TIME, response.body, venue=VENUE, what="time")

    def _raise_for_error(self, response: HttpResponse, market: Market | None = None) -> None:
        if response.status < 400:
            return
        try:
            error = wire.ERROR.decode(response.body)
        except msgspec.MsgspecError:
            snippet = response.body[:200].decode("utf-8", "replace")
            raise ExchangeError(
                f"binance answered HTTP {response.status} on {response.path}: {snippet}",
                venue=VENUE,
            ) from None
        if error.code == -1121 and market is not None:
            raise self.refused_listed_symbol(market, f"code {error.code}, {error.msg}")
        if error.code == -1120:
            raise InvalidInput(f"binance rejected the interval: {error.msg}", field="timeframe")
        raise ExchangeError(
            f"binance answered HTTP {response.status} on {response.path}: code {error.code},"
            f" {error.msg}",
            venue=VENUE,
        )
