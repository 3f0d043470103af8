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
from arbx.adapters.exchanges.common.trades import trades_frame_from
from arbx.adapters.exchanges.common.venue import NativePage, VenueClient, venue_clock_ms
from arbx.domain.errors import ExchangeError, InvalidInput
from arbx.domain.market import Symbol, Timeframe, from_ms
from arbx.domain.market.trades import empty_trades
from arbx.ports.exchange import Market
from arbx.ports.trade_history import TradeHistory, TradePage

WEIGHT_AGG_TRADES = 4
AGG_TRADES_LIMIT = 1000
HOUR_MS = 3_600_000  # /api/v3/aggTrades: startTime and endTime at most an hour apart


class BinanceClient(VenueClient, TradeHistory):
    """GET /api/v3/klines (<= 1000 rows), /api/v3/exchangeInfo, /api/v3/time, and the trade
    history from /api/v3/aggTrades.

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
        venue: str = VENUE,
    ) -> None:
        self.venue_id = venue  # "binanceus" for api.binance.us: the same API, another venue
        timer = timer or SystemTimer()
        limiter = MinuteWindow(weight_per_minute, timer)
        http = VenueHttp.with_breaker(
            venue,
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

    async def fetch_trades(
        self, symbol: Symbol, start_us: int, end_us: int, cursor: str | None = None
    ) -> TradePage:
        """Aggregate trades, oldest first. The span is searched an hour at a time
        (``startTime``/``endTime``, cursor ``t:<ms>``) until a trade is found, then paged by
        id (``fromId``, cursor ``id:<n>``) until a trade at or after the end."""
        market = await self.resolve(symbol)
        end_ms = -(-end_us // 1000)
        params: dict[str, str | int] = {"symbol": market.venue_symbol, "limit": AGG_TRADES_LIMIT}
        kind, _, value = (cursor or f"t:{start_us // 1000}").partition(":")
        window_end = end_ms
        if kind == "t":
            window_start = int(value)
            window_end = min(end_ms, window_start + HOUR_MS)
            params.update(startTime=window_start, endTime=window_end - 1)
        elif kind == "id":
            params["fromId"] = int(value)
        else:
            raise InvalidInput(f"not a binance trades cursor: {cursor!r}", field="cursor")
        rows = await self._http.get(
            "/api/v3/aggTrades", params, self._parse_agg_trades, weight=WEIGHT_AGG_TRADES
        )
        if not rows:
            if kind == "t" and window_end < end_ms:
                return TradePage(empty_trades(), f"t:{window_end}")
            return TradePage(empty_trades(), None)  # nothing more in the span
        trades = trades_frame_from(
            [r.a for r in rows],
            [r.T * 1000 for r in rows],
            [r.p for r in rows],
            [r.q for r in rows],
            ["sell" if r.m else "buy" for r in rows],
            start_us=start_us,
            end_us=end_us,
            venue=self.venue_id,
        )
        newest = rows[-1]
        done = end_us <= newest.T * 1000
        return TradePage(trades, None if done else f"id:{newest.a + 1}")

    # -- parsing ----------------------------------------------------------------------------

    def _parse_agg_trades(self, response: HttpResponse) -> list[wire.BinanceAggTrade]:
        self._raise_for_error(response)
        rows = decode(wire.AGG_TRADES, response.body, venue=self.venue_id, what="aggTrades")
        return sorted(rows, key=lambda r: r.a)

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
            wire.KLINES,
            response.body,
            venue=self.venue_id,
            what="klines",
            row_fields=wire.KLINE_FIELDS,
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
        return decode(wire.EXCHANGE_INFO, response.body, venue=self.venue_id, what="exchangeInfo")

    def _parse_time(self, response: HttpResponse) -> wire.BinanceTime:
        self._raise_for_error(response)
        return decode(wire.TIME, response.body, venue=self.venue_id, what="time")

    def _raise_for_error(self, response: HttpResponse, market: Market | None = None) -> None:
        if response.status < 400:
            return
        try:
            error = wire.ERROR.decode(response.body)
        except msgspec.MsgspecError:
            snippet = response.body[:200].decode("utf-8", "replace")
            raise ExchangeError(
                f"{self.venue_id} answered HTTP {response.status} on {response.path}: {snippet}",
                venue=self.venue_id,
            ) from None
        if error.code == -1121 and market is not None:
            raise self.refused_listed_symbol(market, f"code {error.code}, {error.msg}")
        if error.code == -1120:
            raise InvalidInput(
                f"{self.venue_id} rejected the interval: {error.msg}", field="timeframe"
            )
        raise ExchangeError(
            f"{self.venue_id} answered HTTP {response.status} on {response.path}: code"
            f" {error.code}, {error.msg}",
            venue=self.venue_id,
        )
