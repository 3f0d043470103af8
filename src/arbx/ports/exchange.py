"""The exchange port: what the core needs from a venue's public market-data API."""

from __future__ import annotations

import enum
from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import msgspec
import polars as pl

from arbx.domain.market import Exchange, Symbol, Timeframe, TimeSpan


class Market(msgspec.Struct, frozen=True):
    """One tradable pair as the venue lists it, under its canonical symbol.

    ``lot_size`` (quantity step) and ``price_tick`` are None when the venue does not say.
    """

    symbol: Symbol
    venue_symbol: str
    lot_size: float | None = None
    price_tick: float | None = None
    min_quantity: float | None = None
    active: bool = True


class TimeframeSupport(msgspec.Struct, frozen=True):
    """How a venue serves one canonical timeframe.

    ``fetched_as`` is the venue timeframe requested: the same as ``timeframe`` when the venue
    offers it natively, else the nearest finer venue timeframe that divides it (the bars are
    then resampled; ``native`` is False). ``fetched_as`` is None when the venue cannot serve
    the timeframe at all.
    """

    timeframe: Timeframe
    native: bool
    fetched_as: Timeframe | None


@dataclass(frozen=True, slots=True)
class OhlcvPage:
    """One page of closed bars for (symbol, timeframe) inside the requested span.

    - ``bars``: the canonical bar frame (``BAR_SCHEMA``), sorted, unique ts, on the grid,
      only bars with ``span.start <= ts < span.end`` and only closed bars. A venue that prints
      no bar for a quiet interval leaves a hole: that is information, not an error.
    - ``covered``: the part of the span this page answered for; every bar the venue has in
      it is in ``bars``. ``covered.start`` is the requested start.
    - ``next_start``: where the next page begins (``covered.end``), or None when the span is
      exhausted (or reaches the present: only closed bars are served).
    - ``fetched_as`` / ``resampled``: the venue timeframe requested and whether the bars were
      aggregated from it because the venue lacks ``timeframe``.
    - ``requests``: HTTP requests the page took (retries included).
    - ``not_served``: the part of ``covered`` the venue answered for without serving it: it
      does not serve that far back (Kraken's OHLC endpoint keeps the latest 720 intervals);
      the holes there are not the venue's quiet intervals. None when it served all of it.
    "Closed" is decided by the venue's own signals where it gives them (Kraken's ``last``,
    Binance's close time and the venue's clock), not only by the local clock: a bar the venue
    still forms is never in ``bars``, and ``covered`` then stops at the venue's edge.
    """

    bars: pl.DataFrame
    covered: TimeSpan | None
    next_start: datetime | None
    fetched_as: Timeframe
    resampled: bool
    requests: int = 1
    not_served: TimeSpan | None = None


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class ExchangeStatus(msgspec.Struct, frozen=True):
    """What /ready and /api/v1/exchanges show for one venue."""

    venue: Exchange
    base_url: str
    breaker: BreakerState
    consecutive_failures: int
    retry_at: datetime | None = None
    last_error: str | None = None


class ExchangeClient(Protocol):
    """A venue's public market data.

    Contract:
    - ``list_markets`` returns every market under canonical symbols ("BTC/USDC", BTC not XBT).
    - ``fetch_ohlcv`` returns ONE page starting at ``span.start`` (see ``OhlcvPage``); callers
      loop on ``next_start``. An unknown symbol raises ``InvalidInput(field="symbol")`` whose
      message lists close matches; a timeframe the venue cannot serve raises
      ``InvalidInput(field="timeframe")`` listing what it can serve.
    - ``server_time`` returns the venue's clock (UTC).
    - ``supported_timeframes`` says, for every canonical timeframe, how it is served.
    - ``status`` reports the circuit breaker; it never performs I/O.
    Failures: ``RateLimited(retry_after=)`` when the venue keeps refusing for rate reasons,
    ``ExchangeUnavailable`` for time-outs, 5xx and an open breaker, ``ExchangeError`` (naming
    the venue and the field) for an error answer or a malformed payload.
    """

    @property
    @abstractmethod
    def venue(self) -> Exchange: ...

    @abstractmethod
    async def list_markets(self) -> list[Market]: ...

    @abstractmethod
    async def fetch_ohlcv(
        self, symbol: Symbol, timeframe: Timeframe, span: TimeSpan
    ) -> OhlcvPage: ...

    @abstractmethod
    async def server_time(self) -> datetime: ...

    @abstractmethod
    def supported_timeframes(self) -> list[TimeframeSupport]: ...

    @abstractmethod
    def status(self) -> ExchangeStatus: ...
