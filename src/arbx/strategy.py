"""``arbx.strategy``: write your own strategies (the plugin API).

A plugin is a Python file in a strategies folder (config ``[strategies] paths``, default
``./strategies``) or a module named by an ``arbx.strategies`` entry point of an installed
package. Every module-level object made by one of the decorators below is a strategy type:
it shows in ``arbx backtest strategies`` and ``GET /api/v1/strategies`` with its parameter
schema and runs in backtests like a built-in. ``arbx strategies check NAME`` tests it for
look-ahead and bad output.

Parameters are a ``msgspec.Struct`` (subclass ``Params``); give ranges with
``Annotated[int, Range(ge=2, le=500)]``: values outside them are refused before a run, and
the ranges appear in the schema.

Three kinds:

``@signal`` (one series, long or flat). By default the function gets the whole series
(``Bars``: read-only numpy arrays ``ts``, ``open``, ``high``, ``low``, ``close``,
``volume``) and returns one position per bar, 0 or 1, decided at the bar's close from bars
up to it (``arbx strategies check`` proves it does not peek), or ``Signals(entries,
exits)``. With ``per_bar=True`` it is called at every bar with the bars up to that bar only
and returns that bar's position (or None to keep the previous one).

``@event`` (a class): one object per run, ``__init__(self, params)``, ``on_bar(self, ctx)``
at each bar's close and optionally ``on_fill(self, ctx, fill)``. ``ctx.history()`` is the
bars up to t; ``ctx.buy``/``ctx.sell`` send market, limit or stop orders (filled from the
next bar on), ``ctx.cancel(order)``/``ctx.cancel_all()``, ``ctx.position``, ``ctx.cash``,
``ctx.equity``. The engine is long/flat: a sell never goes below zero.

``@event(min_series=2, max_series=N)``: the strategy trades several series at once (two
venues, or BTC and ETH quoted in one currency), aligned on time; ``on_bar(ctx)`` gets a
``MultiContext`` at every time any series has a bar: ``ctx.series`` (labels
"venue:BASE/QUOTE"), ``ctx.has_bar(s)``, ``ctx.history(s)`` (series ``s`` up to now only),
``ctx.position(s)``, ``ctx.cash``, ``ctx.equity``; orders name their series,
``ctx.buy(s, ...)``/``ctx.sell(s, ...)`` (``s`` an index or a label), and fill from that
series' next bar on with its venue's fees; ``fill.series`` says which series filled.

``@arbitrage`` (two or more venues): ``fn(market, params)`` at every bar with every venue up
to it (``MarketView``: ``close`` in the common currency, ``volume``, ``has_bar``, ``fees``;
rows are venues) returns ``Cross(buy=i, sell=j)`` or None; the arbitrage engine fills both
legs within each venue's balances, up to ``max_qty`` base.

Example (``strategies/breakout.py``)::

    from typing import Annotated
    import numpy as np
    from arbx.strategy import Bars, Params, Range, signal

    class BreakoutParams(Params):
        window: Annotated[int, Range(ge=2, le=1000)] = 20

    @signal(params=BreakoutParams, lookback=lambda p: p.window + 1)
    def breakout(bars: Bars, p: BreakoutParams) -> np.ndarray:
        "Long above the highest close of the previous window bars."
        ...

A plugin that raises, returns the wrong shape, NaN or a too short array makes a failed run
whose message names the strategy and shows the plugin's own traceback; one that runs longer
than ``[strategies] time_limit_s`` is stopped (checked between calls into it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from arbx.domain.backtest.events import Context, Fill, Order
from arbx.domain.backtest.execution import BarArrays
from arbx.domain.backtest.multi_events import MultiContext
from arbx.domain.strategies.base import StrategyType
from arbx.domain.strategies.lookahead import LookaheadReport, check_strategy
from arbx.domain.strategies.plugin import (
    Cross,
    MarketView,
    NoParams,
    Signals,
    StrategyFailed,
    arbitrage_type,
    event_type,
    signal_type,
)

F = TypeVar("F")

Bars = BarArrays
"""One series as read-only float64 numpy arrays (``ts`` in epoch ms, bar open time)."""

Range = msgspec.Meta
"""Bounds of a parameter: ``Annotated[int, Range(ge=1, le=100)]`` (also gt, lt)."""


class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Base of a strategy's parameters: typed fields with defaults (and ranges)."""


def signal(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    params: type[msgspec.Struct] = NoParams,
    lookback: int | Callable[[Any], int] = 1,
    description: str | None = None,
    per_bar: bool = False,
) -> Any:
    """Make ``fn(bars, params)`` a signal strategy type (see the module docstring).

    ``name`` defaults to the function's name, ``description`` to its docstring's first
    paragraph; ``lookback`` is the bars it needs before it can decide (an int or a
    function of the params)."""

    def make(f: Callable[..., Any]) -> StrategyType:
        return signal_type(
            f,
            name=name,
            params=params,
            lookback=lookback,
            description=description,
            per_bar=per_bar,
        )

    return make(fn) if fn is not None else make


def event(
    cls: type | None = None,
    *,
    name: str | None = None,
    params: type[msgspec.Struct] = NoParams,
    lookback: int | Callable[[Any], int] = 1,
    description: str | None = None,
    min_series: int = 1,
    max_series: int = 1,
) -> Any:
    """Make a class with ``on_bar(ctx)`` (and optionally ``on_fill(ctx, fill)``) an event
    strategy type; each run makes one instance with ``cls(params)``. ``max_series > 1``
    (and ``min_series >= 2``): it trades several series, with a ``MultiContext``."""

    def make(c: type) -> StrategyType:
        return event_type(
            c,
            name=name,
            params=params,
            lookback=lookback,
            description=description,
            min_series=min_series,
            max_series=max_series,
        )

    return make(cls) if cls is not None else make


def arbitrage(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    params: type[msgspec.Struct] = NoParams,
    lookback: int | Callable[[Any], int] = 1,
    description: str | None = None,
    max_qty: Callable[[Any], float] | float = 0.5,
    min_series: int = 2,
    max_series: int = 8,
) -> Any:
    """Make ``fn(market, params) -> Cross | None`` an arbitrage strategy type."""

    def make(f: Callable[..., Any]) -> StrategyType:
        return arbitrage_type(
            f,
            name=name,
            params=params,
            lookback=lookback,
            description=description,
            max_qty=max_qty,
            min_series=min_series,
            max_series=max_series,
        )

    return make(fn) if fn is not None else make


__all__ = [
    "Bars",
    "Context",
    "Cross",
    "Fill",
    "LookaheadReport",
    "MarketView",
    "MultiContext",
    "NoParams",
    "Order",
    "Params",
    "Range",
    "Signals",
    "StrategyFailed",
    "StrategyType",
    "arbitrage",
    "check_strategy",
    "event",
    "signal",
]
