"""What every venue client does the same way: timeframes, symbols, paging, closed bars."""

from __future__ import annotations

import difflib
import random
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

import aiohttp
import polars as pl

from arbx.adapters.exchanges.common.http import HttpResponse, RetryPolicy, VenueHttp
from arbx.adapters.exchanges.common.ratelimit import TokenBucket
from arbx.adapters.exchanges.common.timing import SystemTimer, Timer
from arbx.domain.errors import InvalidInput
from arbx.domain.market import (
    Exchange,
    Symbol,
    Timeframe,
    TimeSpan,
    empty_bars,
    from_ms,
    to_ms,
)
from arbx.domain.processing import resample
from arbx.ports.exchange import (
    ExchangeClient,
    ExchangeStatus,
    Market,
    OhlcvPage,
    TimeframeSupport,
)


def timeframe_support(native: Mapping[Timeframe, str]) -> dict[Timeframe, TimeframeSupport]:
    """For each canonical timeframe: native, or the coarsest native one that divides it."""
    table: dict[Timeframe, TimeframeSupport] = {}
    for tf in Timeframe:
        if tf in native:
            table[tf] = TimeframeSupport(tf, True, tf)
            continue
        finer = [n for n in native if n.ms < tf.ms and n.divides(tf)]
        best = max(finer, key=lambda n: n.ms) if finer else None
        table[tf] = TimeframeSupport(tf, False, best)
    return table


@dataclass(frozen=True, slots=True)
class NativePage:
    """One venue request's bars inside [start, end) and how far it answered (``covered_end``).

    ``closed_until_ms``: where the venue's own signals put the end of its closed bars (the
    open time of its forming bar, or its clock) when the answer showed it; the bars are cut
    there already. ``not_served_until_ms``: the venue answered from a later start than asked
    because it does not serve that far back (Kraken's latest 720 intervals).
    """

    bars: pl.DataFrame
    covered_end_ms: int
    closed_until_ms: int | None = None
    not_served_until_ms: int | None = None


def venue_clock_ms(response: HttpResponse) -> int | None:
    """The venue's clock from the answer's ``Date`` header (to the second), None without one."""
    value = response.headers.get("Date") or response.headers.get("date")
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return to_ms(moment)


class VenueClient(ExchangeClient):
    """Base of the Binance, Coinbase and Kraken clients.

    A subclass names its native timeframes and page size and implements the three venue
    calls; paging, resampling, the closed-bar cut and symbol resolution live here.
    """

    venue_id: str
    native_timeframes: Mapping[Timeframe, str]
    page_limit: int

    def __init__(self, http: VenueHttp, timer: Timer, *, market_ttl: float = 3600.0) -> None:
        self._http = http
        self._timer = timer
        self._venue = Exchange(self.venue_id)
        self._market_ttl = market_ttl
        self._markets: dict[Symbol, Market] | None = None
        self._markets_loaded_at = 0.0
        self._support = timeframe_support(self.native_timeframes)

    # -- the port ---------------------------------------------------------------------------

    @property
    def venue(self) -> Exchange:
        return self._venue

    @property
    def http(self) -> VenueHttp:
        return self._http

    def supported_timeframes(self) -> list[TimeframeSupport]:
        return [self._support[tf] for tf in Timeframe]

    def status(self) -> ExchangeStatus:
        breaker = self._http.breaker
        delta = breaker.retry_at_delta()
        return ExchangeStatus(
            venue=self._venue,
            base_url=self._http.base_url,
            breaker=breaker.state,
            consecutive_failures=breaker.consecutive_failures,
            retry_at=None if delta is None else self._timer.now() + delta,
            last_error=breaker.last_error,
        )

    async def list_markets(self) -> list[Market]:
        return sorted((await self._market_map()).values(), key=lambda m: m.symbol)

    async def server_time(self) -> datetime:
        return await self._server_time()

    async def fetch_ohlcv(self, symbol: Symbol, timeframe: Timeframe, span: TimeSpan) -> OhlcvPage:
        support = self.support(timeframe)
        fine = support.fetched_as
        assert fine is not None
        market = await self.resolve(symbol)
        tf_ms = timeframe.ms
        start = timeframe.floor_ms(span.start_ms)
        end = -(-span.end_ms // tf_ms) * tf_ms
        closed_end = timeframe.floor_ms(to_ms(self._timer.now()))
        end = min(end, closed_end)
        if start >= end:
            return OhlcvPage(empty_bars(), None, None, fine, not support.native, requests=0)
        before = self._http.stats.requests
        not_served: int | None = None
        if support.native:
            page = await self._fetch_native(market, timeframe, start, end)
            bars, covered_end = page.bars, max(start + tf_ms, page.covered_end_ms)
            not_served = page.not_served_until_ms
            if page.closed_until_ms is not None:
                end = min(end, timeframe.floor_ms(page.closed_until_ms))
        else:
            buckets = max(1, self.page_limit * fine.ms // tf_ms)
            covered_end = min(end, start + buckets * tf_ms)
            parts, cursor = [], start
            while cursor < covered_end:
                part = await self._fetch_native(market, fine, cursor, covered_end)
                parts.append(part.bars)
                if not_served is None:
                    not_served = part.not_served_until_ms
                if part.closed_until_ms is not None:
                    end = min(end, timeframe.floor_ms(part.closed_until_ms))
                    covered_end = min(covered_end, max(start, end))
                cursor = max(cursor + fine.ms, part.covered_end_ms)
            bars = resample(
                pl.concat(parts), fine, timeframe, incomplete="drop", until=from_ms(covered_end)
            )
        requests = self._http.stats.requests - before
        if end <= start:  # the venue's own clock says nothing from start on is closed yet
            return OhlcvPage(empty_bars(), None, None, fine, not support.native, requests)
        covered_end = min(covered_end, end)
        unserved = None
        if not_served is not None and not_served > start:
            unserved = TimeSpan.from_ms(start, min(timeframe.floor_ms(not_served), covered_end))
        return OhlcvPage(
            bars=bars.filter(pl.col("ts") < from_ms(covered_end)),
            covered=TimeSpan.from_ms(start, covered_end),
            next_start=from_ms(covered_end) if covered_end < end else None,
            fetched_as=fine,
            resampled=not support.native,
            requests=requests,
            not_served=unserved,
        )

    # -- shared helpers ---------------------------------------------------------------------

    def support(self, timeframe: Timeframe) -> TimeframeSupport:
        support = self._support[timeframe]
        if support.fetched_as is None:
            offered = ", ".join(tf.value for tf in Timeframe if self._support[tf].native)
            raise InvalidInput(
                f"timeframe {timeframe} is not offered by {self.venue_id} and no finer timeframe"
                f" it offers divides it; use one of {offered}",
                field="timeframe",
            )
        return support

    async def resolve(self, symbol: Symbol) -> Market:
        markets = await self._market_map()
        market = markets.get(symbol)
        if market is None:
            raise self.unknown_symbol(str(symbol), markets)
        return market

    def unknown_symbol(
        self, text: str, markets: Mapping[Symbol, Market] | None = None
    ) -> InvalidInput:
        names = [str(s) for s in (markets if markets is not None else self._markets or {})]
        names = [name for name in names if name != text.upper()]
        close = difflib.get_close_matches(text.upper(), names, n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return InvalidInput(
            f"symbol {text} is not listed on {self.venue_id}{hint}",
            field="symbol",
            details=close,
        )

    def refused_listed_symbol(self, market: Market, answer: str) -> InvalidInput:
        """The venue refused candles of a market its own list has (delisted or suspended
        since the list was loaded): say so, not "not listed; did you mean". The stale list
        is dropped, so the next request loads it again."""
        self._markets = None
        return InvalidInput(
            f"{self.venue_id} refused candles of {market.symbol} ({market.venue_symbol})"
            f" with {answer!r}, although its market list had the pair; it may have been"
            " delisted or suspended meanwhile (the market list is reloaded on the next request)",
            field="symbol",
        )

    async def _market_map(self) -> dict[Symbol, Market]:
        fresh = self._timer.monotonic() - self._markets_loaded_at < self._market_ttl
        if self._markets is None or not fresh:
            self._markets = {m.symbol: m for m in await self._load_markets()}
            self._markets_loaded_at = self._timer.monotonic()
        return self._markets

    # -- what each venue implements ---------------------------------------------------------

    @abstractmethod
    async def _load_markets(self) -> list[Market]: ...

    @abstractmethod
    async def _server_time(self) -> datetime: ...

    @abstractmethod
    async def _fetch_native(
        self, market: Market, timeframe: Timeframe, start_ms: int, end_ms: int
    ) -> NativePage:
        """Bars of one venue request at a native timeframe, starting at ``start_ms``."""


class RequestRateClient(VenueClient):
    """A venue limited in requests per second (a token bucket of ``burst``), with its own
    circuit breaker: the constructor of the Coinbase and Kraken clients."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        requests_per_second: float,
        burst: float,
        breaker_threshold: int,
        breaker_cooldown: float,
        timer: Timer | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        timer = timer or SystemTimer()
        limiter = TokenBucket(burst, requests_per_second, timer)
        http = VenueHttp.with_breaker(
            self.venue_id,
            session,
            base_url,
            limiter=limiter,
            timer=timer,
            retry=retry,
            rng=rng,
            breaker_threshold=breaker_threshold,
            breaker_cooldown=breaker_cooldown,
        )
        super().__init__(http, timer)
