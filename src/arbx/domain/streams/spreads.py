"""The live spread monitor: net cross-venue spreads from live best bid/ask, and opportunities.

A ``SpreadPair`` names two or more legs: one market on one venue each (``binance BTC/USDC``),
optionally converted into the pair's common quote by the mid of another live market
(``coinbase BTC/USD`` stays in USD; ``kraken BTC/USDC`` converted by ``kraken USDC/USD``). For
every ordered (buy leg, sell leg) the monitor keeps the spread a round trip would see now:
buy at the buy leg's ask, sell at the sell leg's bid, both in the common quote,

    gross_bps = (bid_sell / ask_buy - 1) * 10^4,   net_bps = gross_bps - taker_buy - taker_sell

the definitions of the arbitrage backtest (``arbx.domain.backtest.arbitrage.net_spread_bps``,
taker fees of both legs, in bps of notional). An opportunity is a span in which the net
spread of one (buy, sell) stood above the pair's threshold: it opens at the first quote that
lifts it there and closes at the first that takes it back (or when a quote it needs grows
older than ``max_age_ms``, or when the monitor stops); it records its start, duration, peak
net and gross spread and the mean net spread over its duration (time-weighted: each value
counts for as long as it stood), as the backtest's opportunities table reports them per bar.
Times are the venues' quote times (epoch µs), never running backwards.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec

from arbx.domain.backtest.costs import BPS, FeeSchedule, fees_for
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Symbol
from arbx.domain.market.books import Quote
from arbx.domain.market.trades import TradeKey


@dataclass(frozen=True, slots=True)
class SpreadLeg:
    """One market of a pair; ``convert``: the market whose mid turns its quote currency into
    the pair's common quote (``USDC/USD`` for a ``BTC/USDC`` leg of a USD pair)."""

    venue: str
    symbol: Symbol
    convert: TradeKey | None = None

    @property
    def key(self) -> TradeKey:
        return TradeKey(self.venue, self.symbol)

    @property
    def quote_currency(self) -> str:
        return self.convert.symbol.quote if self.convert is not None else self.symbol.quote

    def __str__(self) -> str:
        return f"{self.venue}:{self.symbol}"

    @classmethod
    def parse(cls, text: str) -> SpreadLeg:
        """``venue:BASE/QUOTE``, optionally ``via venue:BASE/QUOTE`` (the conversion market):
        ``"kraken:BTC/USDC via kraken:USDC/USD"``."""
        market, _, via = text.partition(" via ")
        venue, symbol = _market(market, text)
        convert = None
        if via.strip():
            convert = TradeKey(*_market(via, text))
        return cls(venue, symbol, convert)


def _market(part: str, text: str) -> tuple[str, Symbol]:
    from arbx.domain.market import Exchange

    venue, sep, symbol = part.strip().partition(":")
    if not sep or not venue or not symbol:
        raise InvalidInput(
            f"spread leg {text!r} is not VENUE:BASE/QUOTE (optionally 'via VENUE:BASE/QUOTE'),"
            " e.g. 'kraken:BTC/USDC via kraken:USDC/USD'",
            field="legs",
        )
    return str(Exchange.parse(venue)), Symbol.parse(symbol)


@dataclass(frozen=True, slots=True)
class SpreadPair:
    """Legs compared with each other (same base, one common quote after conversion)."""

    name: str
    legs: tuple[SpreadLeg, ...]
    threshold_bps: float = 0.0
    max_age_ms: int = 5_000

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidInput("a spread pair needs a name", field="name")
        if len(self.legs) < 2:
            raise InvalidInput(f"spread pair {self.name} needs two legs or more", field="legs")
        if len({leg.key for leg in self.legs}) != len(self.legs):
            raise InvalidInput(f"spread pair {self.name} names a leg twice", field="legs")
        bases = {leg.symbol.base for leg in self.legs}
        if len(bases) != 1:
            raise InvalidInput(
                f"the legs of {self.name} trade different bases ({', '.join(sorted(bases))})",
                field="legs",
            )
        for leg in self.legs:
            if leg.convert is not None and leg.convert.symbol.base != leg.symbol.quote:
                raise InvalidInput(
                    f"leg {leg} of {self.name} is converted by {leg.convert}, whose base is not"
                    f" {leg.symbol.quote}",
                    field="convert",
                )
        quotes = {leg.quote_currency for leg in self.legs}
        if len(quotes) != 1:
            raise InvalidInput(
                f"the legs of {self.name} end in different quotes ({', '.join(sorted(quotes))});"
                " convert them into one (e.g. a USDC/USD market for a BTC/USDC leg)",
                field="convert",
            )
        if not (math.isfinite(self.threshold_bps) and self.max_age_ms > 0):
            raise InvalidInput("threshold_bps must be finite and max_age_ms > 0", field="pair")

    @property
    def quote(self) -> str:
        return self.legs[0].quote_currency

    def keys(self) -> set[TradeKey]:
        keys = {leg.key for leg in self.legs}
        keys.update(leg.convert for leg in self.legs if leg.convert is not None)
        return keys


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _dt(ts_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ts_us)


class SpreadOpportunity(msgspec.Struct, frozen=True):
    """A closed opportunity (what the SpreadStore keeps)."""

    id: str  # pair:buy:sell:start µs
    pair: str
    buy: str  # "venue:BASE/QUOTE"
    sell: str
    start_us: int
    end_us: int
    peak_net_bps: float
    mean_net_bps: float
    peak_gross_bps: float
    updates: int  # quotes that moved its spread while it stood
    reason: str  # why it ended: below_threshold, stale, stopped

    @property
    def duration_ms(self) -> float:
        return (self.end_us - self.start_us) / 1000

    @property
    def start(self) -> datetime:
        return _dt(self.start_us)

    @property
    def end(self) -> datetime:
        return _dt(self.end_us)


class SpreadView(msgspec.Struct, frozen=True):
    """The spread of one (buy, sell) of a pair now (``GET /api/v1/spreads``)."""

    pair: str
    buy: str
    sell: str
    ask: float  # the buy leg's ask, in the pair's quote
    bid: float  # the sell leg's bid, in the pair's quote
    gross_bps: float
    net_bps: float
    ts_us: int  # the newest quote it was computed from
    open_since_us: int | None  # the open opportunity's start, if one stands


class SpreadEvent(msgspec.Struct, frozen=True):
    """An opportunity opened or closed (what alert rules can notify on)."""

    kind: Literal["opened", "closed"]
    pair: str
    buy: str
    sell: str
    at_us: int
    net_bps: float
    opportunity: SpreadOpportunity | None = None  # set when closed


@dataclass
class _Open:
    start_us: int
    last_us: int
    last_net: float
    peak_net: float
    peak_gross: float
    area: float = 0.0  # ∫ net dt over [start, last]
    updates: int = 1


@dataclass
class _Route:
    pair: SpreadPair
    buy: SpreadLeg
    sell: SpreadLeg
    cost_bps: float
    open: _Open | None = None
    view: SpreadView | None = None


@dataclass
class SpreadMonitor:
    """Feed it quotes (``update``); it answers the events and keeps the current spreads."""

    pairs: Sequence[SpreadPair]
    fees: Mapping[str, FeeSchedule] = field(default_factory=dict)
    _quotes: dict[TradeKey, Quote] = field(default_factory=dict, init=False)
    _routes: list[_Route] = field(default_factory=list, init=False)
    _by_key: dict[TradeKey, list[_Route]] = field(default_factory=dict, init=False)
    _now_us: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        names = [p.name for p in self.pairs]
        if len(set(names)) != len(names):
            raise InvalidInput("two spread pairs have the same name", field="name")
        for pair in self.pairs:
            for buy in pair.legs:
                for sell in pair.legs:
                    if buy is sell:
                        continue
                    cost = fees_for(buy.venue, self.fees).taker_bps
                    cost += fees_for(sell.venue, self.fees).taker_bps
                    route = _Route(pair, buy, sell, cost)
                    self._routes.append(route)
                    for key in {buy.key, sell.key, buy.convert, sell.convert} - {None}:
                        assert key is not None
                        self._by_key.setdefault(key, []).append(route)

    def keys(self) -> set[TradeKey]:
        """Every market the monitor needs quotes of."""
        return set(self._by_key)

    def update(self, quotes: Iterable[Quote]) -> list[SpreadEvent]:
        events: list[SpreadEvent] = []
        for quote in quotes:
            routes = self._by_key.get(quote.key)
            if routes is None:
                continue
            self._now_us = max(self._now_us, quote.ts_us)
            self._quotes[quote.key] = quote
            for route in routes:
                events.extend(self._evaluate(route))
        return events

    def expire(self, now_us: int) -> list[SpreadEvent]:
        """Close what stands on quotes older than their pair's ``max_age_ms`` at ``now_us``."""
        self._now_us = max(self._now_us, now_us)
        events: list[SpreadEvent] = []
        for route in self._routes:
            if route.open is not None and self._prices(route) is None:
                events.append(self._close(route, "stale"))
        return events

    def stop(self, now_us: int | None = None) -> list[SpreadEvent]:
        """Close every open opportunity (the monitor stops)."""
        if now_us is not None:
            self._now_us = max(self._now_us, now_us)
        return [self._close(r, "stopped") for r in self._routes if r.open is not None]

    def current(self) -> list[SpreadView]:
        """The spread of every (buy, sell) whose quotes are all fresh."""
        return [r.view for r in self._routes if r.view is not None and self._prices(r) is not None]

    # -- one route ------------------------------------------------------------------------------

    def _fresh(self, quote: Quote | None, pair: SpreadPair) -> bool:
        return quote is not None and self._now_us - quote.ts_us <= pair.max_age_ms * 1000

    def _prices(self, route: _Route) -> tuple[float, float, int] | None:
        """(ask of the buy leg, bid of the sell leg) in the pair's quote and the newest quote
        time, or None when a quote they need is missing or stale."""
        pair = route.pair
        used: list[Quote] = []
        sides: list[float] = []
        for leg, side in ((route.buy, "ask"), (route.sell, "bid")):
            quote = self._quotes.get(leg.key)
            if not self._fresh(quote, pair):
                return None
            assert quote is not None
            used.append(quote)
            price = quote.ask if side == "ask" else quote.bid
            if leg.convert is not None:
                rate = self._quotes.get(leg.convert)
                if not self._fresh(rate, pair):
                    return None
                assert rate is not None
                used.append(rate)
                price *= (rate.bid + rate.ask) / 2
            sides.append(price)
        return sides[0], sides[1], max(q.ts_us for q in used)

    def _evaluate(self, route: _Route) -> list[SpreadEvent]:
        prices = self._prices(route)
        if prices is None:
            route.view = None
            return [self._close(route, "stale")] if route.open is not None else []
        ask, bid, ts = prices
        gross = (bid / ask - 1.0) / BPS
        net = gross - route.cost_bps
        now = self._now_us
        events: list[SpreadEvent] = []
        above = net > route.pair.threshold_bps
        if route.open is not None and not above:
            events.append(self._close(route, "below_threshold", net))
        elif route.open is not None:
            held = route.open
            held.area += held.last_net * (now - held.last_us)
            held.last_us, held.last_net = now, net
            held.peak_net = max(held.peak_net, net)
            held.peak_gross = max(held.peak_gross, gross)
            held.updates += 1
        elif above:
            route.open = _Open(now, now, net, net, gross)
            events.append(
                SpreadEvent("opened", route.pair.name, str(route.buy), str(route.sell), now, net)
            )
        route.view = SpreadView(
            pair=route.pair.name,
            buy=str(route.buy),
            sell=str(route.sell),
            ask=ask,
            bid=bid,
            gross_bps=gross,
            net_bps=net,
            ts_us=ts,
            open_since_us=route.open.start_us if route.open is not None else None,
        )
        return events

    def _close(self, route: _Route, reason: str, net: float | None = None) -> SpreadEvent:
        """Close the route's opportunity; the event carries the net spread that closed it
        (stale or stopped: the last one known, at most the threshold)."""
        held = route.open
        assert held is not None
        end = max(self._now_us, held.last_us)
        area = held.area + held.last_net * (end - held.last_us)
        span = end - held.start_us
        opportunity = SpreadOpportunity(
            id=f"{route.pair.name}:{route.buy}:{route.sell}:{held.start_us}",
            pair=route.pair.name,
            buy=str(route.buy),
            sell=str(route.sell),
            start_us=held.start_us,
            end_us=end,
            peak_net_bps=held.peak_net,
            mean_net_bps=area / span if span > 0 else held.peak_net,
            peak_gross_bps=held.peak_gross,
            updates=held.updates,
            reason=reason,
        )
        route.open = None
        if route.view is not None:
            route.view = msgspec.structs.replace(route.view, open_since_us=None)
        closing = net if net is not None else min(held.last_net, route.pair.threshold_bps)
        return SpreadEvent(
            "closed", route.pair.name, str(route.buy), str(route.sell), end, closing, opportunity
        )
