"""Kraken public market data: OHLC, AssetPairs, Time."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import msgspec
import polars as pl

from arbx.adapters.exchanges.common.decoding import decode
from arbx.adapters.exchanges.common.http import HttpResponse
from arbx.adapters.exchanges.common.trades import trades_frame_from
from arbx.adapters.exchanges.common.venue import NativePage, RequestRateClient
from arbx.adapters.exchanges.kraken import wire
from arbx.adapters.exchanges.kraken.mapping import (
    INTERVALS,
    VENUE,
    markets_from_pairs,
    rows_to_bars,
)
from arbx.domain.errors import ExchangeError, ExchangeUnavailable, InvalidInput, RateLimited
from arbx.domain.market import Symbol, Timeframe, from_ms
from arbx.domain.market.trades import empty_trades
from arbx.ports.exchange import Market
from arbx.ports.trade_history import TradeHistory, TradePage

TRADES_COUNT = 1000
TAKER_SIDE = {"b": "buy", "s": "sell"}

E = TypeVar("E", wire.KrakenOhlcResponse, wire.KrakenAssetPairsResponse, wire.KrakenTimeResponse)

_UNAVAILABLE = (
    "EService:Unavailable",
    "EService:Busy",
    "EGeneral:Temporary lockout",
    "EGeneral:Internal error",
)
_RATE_LIMITED = ("EAPI:Rate limit exceeded", "EGeneral:Too many requests")


class KrakenClient(RequestRateClient, TradeHistory):
    """GET /0/public/OHLC (<= 720 rows from ``since``, ``last`` cursor), AssetPairs, Time.

    Errors arrive inside HTTP 200 bodies; the last OHLC row is the current, unfinished
    interval (dropped with every other bar that is not closed yet).
    Note: the live venue serves only the most recent 720 intervals of OHLC; older 1m history
    has to come from its trade files (a mirror or the fake venue pages from ``since``).
    """

    venue_id = VENUE
    native_timeframes = INTERVALS
    page_limit = 720

    async def _load_markets(self) -> list[Market]:
        answer = await self._http.get("/0/public/AssetPairs", None, self._parse_pairs)
        return markets_from_pairs(answer.result or {})

    async def _server_time(self) -> datetime:
        answer = await self._http.get("/0/public/Time", None, self._parse_time)
        if answer.result is None:
            raise ExchangeError(
                "kraken sent a Time answer without result", venue=VENUE, field="result"
            )
        return from_ms(answer.result.unixtime * 1000)

    async def _fetch_native(
        self, market: Market, timeframe: Timeframe, start_ms: int, end_ms: int
    ) -> NativePage:
        params: dict[str, str | int] = {
            "pair": market.venue_symbol,
            "interval": INTERVALS[timeframe],
            "since": start_ms // 1000 - 1,  # since is exclusive
        }
        bars, _count, oldest_ms, newest_ms, forming_ms = await self._http.get(
            "/0/public/OHLC",
            params,
            lambda response: self._parse_ohlc(response, market, start_ms, end_ms),
        )
        if newest_ms is None and forming_ms is None:
            return NativePage(bars, end_ms)  # nothing after since: nothing up to now
        # Kraken appends the current, uncommitted interval (after ``last``) only when the
        # answer reaches the present; a page without it, short or not, is not the end.
        if forming_ms is not None:
            # Kraken serves its latest 720 intervals only: asked from before them, it answers
            # from where they start, and the intervals before were not served (a mirror
            # that pages from ``since`` answers with older rows: those were served).
            window_start = forming_ms - self.page_limit * timeframe.ms
            not_served = None
            if start_ms < window_start and (oldest_ms is None or oldest_ms >= window_start):
                not_served = window_start
            return NativePage(
                bars, end_ms, closed_until_ms=forming_ms, not_served_until_ms=not_served
            )
        assert newest_ms is not None
        if newest_ms + timeframe.ms >= end_ms:
            return NativePage(bars, end_ms)
        cursor = newest_ms + timeframe.ms
        return NativePage(bars, min(end_ms, max(cursor, start_ms + timeframe.ms)))

    async def fetch_trades(
        self, symbol: Symbol, start_us: int, end_us: int, cursor: str | None = None
    ) -> TradePage:
        """GET /0/public/Trades from ``since`` (epoch ns), oldest first, up to 1000 trades;
        the answer's ``last`` (ns) is where the next page starts (the cursor)."""
        market = await self.resolve(symbol)
        since = int(cursor) if cursor is not None else start_us * 1000
        params: dict[str, str | int] = {
            "pair": market.venue_symbol,
            "since": since,
            "count": TRADES_COUNT,
        }
        rows, last = await self._http.get(
            "/0/public/Trades", params, lambda response: self._parse_trades(response, market)
        )
        if not rows:
            return TradePage(empty_trades(), None)
        ts_us = [round(r.time * 1_000_000) for r in rows]
        trades = trades_frame_from(
            [r.trade_id for r in rows],
            ts_us,
            [r.price for r in rows],
            [r.volume for r in rows],
            [TAKER_SIDE.get(r.side, r.side) for r in rows],
            start_us=start_us,
            end_us=end_us,
            venue=VENUE,
        )
        done = max(ts_us) >= end_us or last is None or last <= since
        return TradePage(trades, None if done else str(last))

    # -- parsing ----------------------------------------------------------------------------

    def _parse_trades(
        self, response: HttpResponse, market: Market
    ) -> tuple[list[wire.KrakenTradeRow], int | None]:
        answer = self._envelope(response, wire.OHLC, "Trades", market)
        rows: list[wire.KrakenTradeRow] = []
        last: int | None = None
        for key, raw in (answer.result or {}).items():
            if key == "last":
                value = decode(wire.TRADES_LAST, raw, venue=VENUE, what="Trades", field="last")
                try:
                    last = int(value)
                except ValueError:
                    raise ExchangeError(
                        f"kraken sent a Trades last that is not a number: {value!r}",
                        venue=VENUE,
                        field="last",
                    ) from None
            else:
                rows = decode(
                    wire.TRADE_ROWS, raw, venue=VENUE, what="Trades", row_fields=wire.TRADE_FIELDS
                )
        return rows, last

    def _parse_ohlc(
        self, response: HttpResponse, market: Market, start_ms: int, end_ms: int
    ) -> tuple[pl.DataFrame, int, int | None, int | None, int | None]:
        """(committed bars in [start, end), rows sent, the oldest and the newest committed
        row's time in ms, the open time of the uncommitted row after ``last`` if sent).

        Kraken documents the last row as the current, uncommitted interval: rows after
        ``last`` are never bars, whatever our clock says.
        """
        answer = self._envelope(response, wire.OHLC, "OHLC", market)
        rows: list[wire.KrakenOhlcRow] | None = None
        last: int | None = None
        for key, raw in (answer.result or {}).items():
            if key == "last":
                last = decode(wire.OHLC_LAST, raw, venue=VENUE, what="OHLC", field="last")
                if last < 0:
                    raise ExchangeError(
                        "kraken sent a negative OHLC last", venue=VENUE, field="last"
                    )
            else:
                rows = decode(
                    wire.OHLC_ROWS, raw, venue=VENUE, what="OHLC", row_fields=wire.OHLC_FIELDS
                )
        if rows is None:
            raise ExchangeError(
                f"kraken sent an OHLC answer without rows for {market.venue_symbol}",
                venue=VENUE,
                field="result",
            )
        committed = rows if last is None else [r for r in rows if r.time <= last]
        forming = [r.time * 1000 for r in rows if last is not None and r.time > last]
        oldest = min(r.time for r in committed) * 1000 if committed else None
        newest = max(r.time for r in committed) * 1000 if committed else None
        return (
            rows_to_bars(committed, start_ms, end_ms),
            len(rows),
            oldest,
            newest,
            min(forming) if forming else None,
        )

    def _parse_pairs(self, response: HttpResponse) -> wire.KrakenAssetPairsResponse:
        return self._envelope(response, wire.ASSET_PAIRS, "AssetPairs")

    def _parse_time(self, response: HttpResponse) -> wire.KrakenTimeResponse:
        return self._envelope(response, wire.TIME, "Time")

    def _envelope(
        self,
        response: HttpResponse,
        decoder: msgspec.json.Decoder[E],
        what: str,
        market: Market | None = None,
    ) -> E:
        if response.status >= 400 and not response.body.lstrip().startswith(b"{"):
            snippet = response.body[:200].decode("utf-8", "replace")
            raise ExchangeError(
                f"kraken answered HTTP {response.status} on {response.path}: {snippet}",
                venue=VENUE,
            )
        answer = decode(decoder, response.body, venue=VENUE, what=what)
        errors: list[str] = answer.error
        if errors:
            self._raise_for_errors(errors, response, market)
        if response.status >= 400:
            raise ExchangeError(
                f"kraken answered HTTP {response.status} on {response.path}", venue=VENUE
            )
        return answer

    def _raise_for_errors(
        self, errors: list[str], response: HttpResponse, market: Market | None
    ) -> None:
        text = "; ".join(errors)
        if any(e.startswith(_RATE_LIMITED) for e in errors):
            raise RateLimited(f"kraken rate-limited us on {response.path}: {text}", venue=VENUE)
        if any(e.startswith(_UNAVAILABLE) for e in errors):
            raise ExchangeUnavailable(f"kraken is unavailable: {text}", venue=VENUE)
        if market is not None and any(e.startswith("EQuery:Unknown asset pair") for e in errors):
            raise self.refused_listed_symbol(market, text)
        if any(e.startswith("EGeneral:Invalid arguments") for e in errors):
            raise InvalidInput(
                f"kraken rejected the request {response.path}: {text}", field="params"
            )
        raise ExchangeError(f"kraken answered an error on {response.path}: {text}", venue=VENUE)
