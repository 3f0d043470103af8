"""Strategy types written by users: how their code is called, and how its output is checked.

A plugin's code runs behind three guards, so a bug in it is the user's failed run with the
user's traceback (``StrategyFailed``), never a crash of arbx:

- it sees read-only views (``readonly``): writing into the bars raises in the plugin;
- everything it raises is caught and reported with the frames of its own code;
- what it returns is checked: one 0/1 position per bar, no NaN, the right shape.

Per-bar plugins (``per_bar=True`` signal strategies, arbitrage and event strategies) are
given bars up to the decision bar only, by construction; whole-array signal strategies get
the series at once and are held to the no-look-ahead property (``strategies.lookahead``).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import numpy as np

from arbx.domain.backtest.arbitrage import AlignedMarket, CrossDecisions
from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.backtest.execution import BarArrays
from arbx.domain.backtest.kernels import FloatArray, hold_state
from arbx.domain.errors import InvalidInput
from arbx.domain.strategies.base import StrategyType

T = TypeVar("T")
_ARBX_DIR = str(Path(__file__).resolve().parents[2])
_MAX_FRAMES = 12
_LIMIT: list[float | None] = [None]  # seconds a plugin's run may take (None: no limit)


def set_time_limit(seconds: float | None) -> None:
    """How long one run of plugin code may take before it is stopped (None or 0: no limit).
    Checked here between calls into the plugin (every bar for per-bar and event plugins);
    a single call that never returns is stopped by whoever waits for the worker process
    computing it (``app.background_backtests``), which ends that process."""
    _LIMIT[0] = seconds or None


def time_limit() -> float | None:
    """The time limit set by ``set_time_limit`` (None: no limit)."""
    return _LIMIT[0]


class _Clock:
    """The time budget of one run of a plugin."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.limit = _LIMIT[0]
        self.start = time.monotonic()

    def check(self, t: int) -> None:
        if self.limit is not None and time.monotonic() - self.start > self.limit:
            raise StrategyFailed(
                f"strategy {self.name} was stopped at bar {t}: it ran longer than its time"
                f" limit of {self.limit:g} s ([strategies] time_limit_s)",
                field="strategy",
            )


class StrategyFailed(InvalidInput):
    """A strategy's own code raised, or returned something the engine cannot use; the
    message names the strategy, what was wrong and (for an exception) the user's
    traceback."""

    title = "strategy failed"


class NoParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A strategy without parameters."""


@dataclass(frozen=True)
class Signals:
    """Entry and exit signals (one bool per bar): long from an entry to the next exit
    (an exit on the same bar as an entry wins)."""

    entries: Any
    exits: Any


@dataclass(frozen=True)
class Cross:
    """An arbitrage decision at one bar: buy on venue index ``buy`` (the cheap one), sell
    on venue index ``sell`` (the dear one), at most the strategy's ``max_qty`` base."""

    buy: int
    sell: int


@dataclass(frozen=True)
class MarketView:
    """What an arbitrage plugin sees at bar t: every venue up to t (read-only views).

    ``close`` is in the run's common currency (NaN where a venue has no bar),
    ``volume`` 0 there; rows are venues in the order of the request's series."""

    ts: Any
    venues: list[str]
    close: Any
    volume: Any
    has_bar: Any
    fees: list[FeeSchedule]

    @property
    def t(self) -> int:
        return int(self.ts.size) - 1


def readonly(bars: BarArrays) -> BarArrays:
    """The same bars as views that cannot be written to."""
    return BarArrays(
        _frozen(bars.ts),
        _frozen(bars.open),
        _frozen(bars.high),
        _frozen(bars.low),
        _frozen(bars.close),
        _frozen(bars.volume),
        bars.bar_ms,
        bars.venue,
        bars.symbol,
    )


def _frozen(array: Any) -> Any:
    view = array.view()
    view.setflags(write=False)
    return view


def user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` from the first frame outside arbx (the user's code)."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if not f.filename.startswith(_ARBX_DIR)]
    shown = traceback.StackSummary.from_list((mine or list(frames))[-_MAX_FRAMES:])
    lines = ["Traceback (most recent call last):\n", *shown.format()]
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()


def call_user(name: str, what: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``; anything it raises becomes ``StrategyFailed`` with its traceback."""
    try:
        return fn(*args)
    except StrategyFailed:
        raise
    except Exception as exc:
        raise StrategyFailed(
            f"strategy {name} failed in {what}: {type(exc).__name__}: {exc}\n{user_traceback(exc)}",
            field="strategy",
        ) from None


def check_positions(name: str, out: Any, n: int) -> FloatArray:
    """A plugin's output as 0/1 float targets, or ``StrategyFailed`` saying what is wrong."""
    if isinstance(out, Signals):
        entries = _bools(name, "entries", out.entries, n)
        exits = _bools(name, "exits", out.exits, n)
        return hold_state(entries, exits)
    try:
        arr = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        raise StrategyFailed(
            f"strategy {name} returned {type(out).__name__}; return an array of {n} positions"
            " (0 flat, 1 long) or Signals(entries, exits)",
            field="strategy",
        ) from None
    _shape(name, "positions", arr, n)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise StrategyFailed(
            f"strategy {name} returned NaN or infinite positions at {bad.size} bar(s),"
            f" first at bar {int(bad[0])}; give 0 (flat) during its warm-up",
            field="strategy",
        )
    odd = np.flatnonzero((arr != 0.0) & (arr != 1.0))
    if odd.size:
        raise StrategyFailed(
            f"strategy {name} returned position {float(arr[odd[0]])!r} at bar {int(odd[0])};"
            " positions are 0 (flat) or 1 (long)",
            field="strategy",
        )
    return arr


def _shape(name: str, what: str, arr: Any, n: int) -> None:
    if arr.shape != (n,):
        raise StrategyFailed(
            f"strategy {name} returned {what} of shape {arr.shape} for {n} bars;"
            f" it must return one value per bar, shape ({n},)",
            field="strategy",
        )


def _bools(name: str, what: str, value: Any, n: int) -> Any:
    arr = np.asarray(value)
    _shape(name, what, arr, n)
    if arr.dtype != np.bool_:
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isin(arr, (0, 1))):
            raise StrategyFailed(
                f"strategy {name} returned {what} that are not booleans (dtype {arr.dtype})",
                field="strategy",
            )
        arr = arr.astype(np.bool_)
    return arr


def _lookback(value: int | Callable[[Any], int]) -> Callable[[Any], int]:
    if callable(value):
        return value
    fixed = int(value)
    if fixed < 1:
        raise InvalidInput(f"a strategy's lookback must be >= 1 bar, got {fixed}", field="lookback")
    return lambda _p: fixed


def _checked_lookback(name: str, fn: Callable[[Any], int]) -> Callable[[Any], int]:
    def lookback(params: Any) -> int:
        value = call_user(name, "lookback", fn, params)
        if not isinstance(value, int | np.integer) or value < 1:
            raise StrategyFailed(
                f"strategy {name}'s lookback returned {value!r}; it must be an int >= 1",
                field="strategy",
            )
        return int(value)

    return lookback


def _describe(fn: Any, description: str | None) -> str:
    text = description or (fn.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(text.split()) or f"user strategy {getattr(fn, '__name__', '')}"


def signal_type(
    fn: Callable[[BarArrays, Any], Any],
    *,
    name: str | None = None,
    params: type[msgspec.Struct] = NoParams,
    lookback: int | Callable[[Any], int] = 1,
    description: str | None = None,
    per_bar: bool = False,
) -> StrategyType:
    """A single-series long/flat strategy from ``fn``.

    ``per_bar=False``: ``fn(bars, params)`` gets the whole series (read-only) and returns one
    position per bar (0/1) or ``Signals``; it must decide each bar from bars up to it
    (``arbx strategies check`` tests that). ``per_bar=True``: ``fn(bars, params)`` is called
    at every bar with bars up to it only and returns that bar's position (0/1, a bool) or
    None to keep the previous one.
    """
    label = name or fn.__name__

    def whole(bars: BarArrays, p: Any) -> FloatArray:
        clock = _Clock(label)
        out = call_user(label, "its signal function", fn, readonly(bars), p)
        clock.check(bars.n - 1)
        return check_positions(label, out, bars.n)

    def stepwise(bars: BarArrays, p: Any) -> FloatArray:
        view = readonly(bars)
        out = np.zeros(bars.n)
        held = 0.0
        clock = _Clock(label)
        for t in range(bars.n):
            clock.check(t)
            value = call_user(label, f"its signal function at bar {t}", fn, view.head(t + 1), p)
            if value is not None:
                held = _position(label, value, t)
            out[t] = held
        return out

    return StrategyType(
        label,
        "signal",
        _describe(fn, description),
        params,
        _checked_lookback(label, _lookback(lookback)),
        stepwise if per_bar else whole,
    )


def _position(name: str, value: Any, t: int) -> float:
    try:
        pos = float(value)
    except (TypeError, ValueError):
        raise StrategyFailed(
            f"strategy {name} returned {type(value).__name__} at bar {t}; return 0, 1 or None",
            field="strategy",
        ) from None
    if pos not in (0.0, 1.0):
        raise StrategyFailed(
            f"strategy {name} returned position {value!r} at bar {t}; positions are 0 or 1",
            field="strategy",
        )
    return pos


class _GuardedEvents:
    """An event plugin whose callbacks report their exceptions as ``StrategyFailed``."""

    def __init__(self, name: str, inner: Any) -> None:
        self._name = name
        self._inner = inner
        self._clock = _Clock(name)
        if callable(getattr(inner, "on_fill", None)):
            self.on_fill = self._on_fill

    def on_bar(self, ctx: Any) -> None:
        self._clock.check(ctx.t)
        call_user(self._name, f"on_bar at bar {ctx.t}", self._inner.on_bar, ctx)

    def _on_fill(self, ctx: Any, fill: Any) -> None:
        call_user(self._name, f"on_fill at bar {ctx.t}", self._inner.on_fill, ctx, fill)


def event_type(
    cls: Callable[[Any], Any],
    *,
    name: str | None = None,
    params: type[msgspec.Struct] = NoParams,
    lookback: int | Callable[[Any], int] = 1,
    description: str | None = None,
    min_series: int = 1,
    max_series: int = 1,
) -> StrategyType:
    """An event strategy: ``cls(params)`` makes one object per run with ``on_bar(ctx)`` and
    optionally ``on_fill(ctx, fill)``; ``ctx`` shows bars up to t and sends orders. With
    ``max_series > 1`` it trades several series at once (``multi_events.MultiContext``)."""
    label: str = name or str(getattr(cls, "__name__", "event_strategy"))
    if not callable(getattr(cls, "on_bar", None)):
        raise InvalidInput(f"event strategy {label} has no on_bar(ctx) method", field="strategy")
    if not (1 <= min_series <= max_series) or (max_series > 1 and min_series < 2):
        raise InvalidInput(
            f"event strategy {label}: series counts must be 1..1 (one series) or"
            f" 2 <= min_series <= max_series, got {min_series}..{max_series}",
            field="strategy",
        )

    def make(p: Any) -> Any:
        return _GuardedEvents(label, call_user(label, "its constructor", cls, p))

    return StrategyType(
        label,
        "event",
        _describe(cls, description),
        params,
        _checked_lookback(label, _lookback(lookback)),
        min_series=min_series,
        max_series=max_series,
        events=make,
    )


def arbitrage_type(
    fn: Callable[[MarketView, Any], Cross | None],
    *,
    name: str | None = None,
    params: type[msgspec.Struct] = NoParams,
    lookback: int | Callable[[Any], int] = 1,
    description: str | None = None,
    max_qty: Callable[[Any], float] | float = 0.5,
    min_series: int = 2,
    max_series: int = 8,
) -> StrategyType:
    """An arbitrage strategy: ``fn(market, params)`` is called at every bar with every venue
    up to it (``MarketView``) and returns a ``Cross`` (buy one venue, sell another in the
    same bar, within the venues' balances) or None."""
    label = name or fn.__name__
    qty = max_qty if callable(max_qty) else (lambda _p: float(max_qty))

    def decide(market: AlignedMarket, p: Any) -> CrossDecisions:
        close = market.common_close()
        views = [_frozen(a) for a in (market.ts, close, market.volume, market.has_bar)]
        bars: list[int] = []
        buys: list[int] = []
        sells: list[int] = []
        clock = _Clock(label)
        for t in range(market.n):
            clock.check(t)
            view = MarketView(
                views[0][: t + 1],
                list(market.venues),
                views[1][:, : t + 1],
                views[2][:, : t + 1],
                views[3][:, : t + 1],
                list(market.fees),
            )
            got = call_user(label, f"its decision at bar {t}", fn, view, p)
            if got is None:
                continue
            if not isinstance(got, Cross):
                raise StrategyFailed(
                    f"strategy {label} returned {type(got).__name__} at bar {t};"
                    " return Cross(buy=i, sell=j) or None",
                    field="strategy",
                )
            _check_cross(label, got, t, market)
            bars.append(t)
            buys.append(got.buy)
            sells.append(got.sell)
        size = call_user(label, "max_qty", qty, p)
        if not (isinstance(size, int | float) and np.isfinite(size) and size > 0):
            raise StrategyFailed(f"strategy {label}: max_qty must be > 0, got {size!r}")
        return CrossDecisions(
            bar=np.asarray(bars, dtype=np.int64),
            buy=np.asarray(buys, dtype=np.int64),
            sell=np.asarray(sells, dtype=np.int64),
            net_ok=np.ones(len(bars), dtype=np.bool_),
            max_qty=float(size),
        )

    return StrategyType(
        label,
        "arbitrage",
        _describe(fn, description),
        params,
        _checked_lookback(label, _lookback(lookback)),
        min_series=min_series,
        max_series=max_series,
        decide=decide,
    )


def _check_cross(name: str, cross: Cross, t: int, market: AlignedMarket) -> None:
    v = len(market.venues)
    ok = isinstance(cross.buy, int | np.integer) and isinstance(cross.sell, int | np.integer)
    if not ok or not (0 <= cross.buy < v and 0 <= cross.sell < v) or cross.buy == cross.sell:
        raise StrategyFailed(
            f"strategy {name} returned {cross!r} at bar {t}; buy and sell are two different"
            f" venue indexes in 0..{v - 1}",
            field="strategy",
        )
    if not (market.has_bar[cross.buy, t] and market.has_bar[cross.sell, t]):
        raise StrategyFailed(
            f"strategy {name} traded at bar {t} on a venue without a bar there",
            field="strategy",
        )


def as_plugin(strategy: StrategyType, **origin: str) -> StrategyType:
    """``strategy`` marked as a plugin from ``origin`` (location, code_hash, version)."""
    return replace(strategy, origin=replace(strategy.origin, source="plugin", **origin))
