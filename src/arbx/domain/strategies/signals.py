"""Single-series long/flat signal strategies: SMA/EMA cross, mean reversion, momentum, RSI.

Each target is decided at a bar's close from bars up to and including it; warm-up bars
(indicator undefined) are flat.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec
import numpy as np

from arbx.domain.backtest.execution import BarArrays
from arbx.domain.backtest.kernels import (
    BoolArray,
    FloatArray,
    cross_hold,
    ema,
    hold_state,
    rate_of_change,
    rsi,
    sma_many,
    zscore,
)
from arbx.domain.errors import InvalidInput
from arbx.domain.strategies.base import StrategyType


def _positive(name: str, value: int, minimum: int = 1) -> None:
    if value < minimum:
        raise InvalidInput(f"{name} must be >= {minimum}, got {value}", field=f"params.{name}")


class NoParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


CrossEntry = Literal["cross", "state"]


class CrossParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Moving-average cross. ``entry="cross"`` (the default) buys on the bar where the fast
    average crosses above the slow one and sells where it crosses below (events; an exact
    tie is no cross; see ``kernels.cross_hold``). ``entry="state"`` is long on every bar
    where fast > slow, warm-up included (a regime filter, not a cross)."""

    fast: int = 10
    slow: int = 50
    entry: CrossEntry = "cross"

    def __post_init__(self) -> None:
        _positive("fast", self.fast)
        _positive("slow", self.slow, 2)
        if self.fast >= self.slow:
            raise InvalidInput(
                f"fast ({self.fast}) must be shorter than slow ({self.slow})", field="params.fast"
            )


class MeanReversionParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """z = (close - SMA(window)) / std(window). Long when z < -z_entry (below the lower
    Bollinger band at z_entry standard deviations), flat again when z > -z_exit
    (z_exit = 0: back at the middle band)."""

    window: int = 20
    z_entry: float = 2.0
    z_exit: float = 0.0

    def __post_init__(self) -> None:
        _positive("window", self.window, 2)
        if not self.z_entry > 0:
            raise InvalidInput("z_entry must be > 0", field="params.z_entry")
        if not self.z_exit < self.z_entry:
            raise InvalidInput("z_exit must be below z_entry", field="params.z_exit")


class MomentumParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Long while the rate of change over ``window`` bars exceeds ``threshold``."""

    window: int = 20
    threshold: float = 0.0

    def __post_init__(self) -> None:
        _positive("window", self.window)


class RsiParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Wilder RSI: long when it falls below ``oversold``, flat when it rises above
    ``overbought``."""

    period: int = 14
    oversold: float = 30.0
    overbought: float = 70.0

    def __post_init__(self) -> None:
        _positive("period", self.period, 2)
        if not (0.0 < self.oversold < self.overbought < 100.0):
            raise InvalidInput("need 0 < oversold < overbought < 100", field="params.oversold")


def _buy_and_hold(bars: BarArrays, _: NoParams) -> FloatArray:
    return np.ones(bars.n)


def _cross_row(fast: FloatArray, slow: FloatArray, entry: CrossEntry) -> BoolArray:
    """Long (True) bars of one pair: from a cross above to a cross below, or fast > slow."""
    if entry == "state":
        return np.greater(fast, slow)
    return cross_hold(fast, slow)


def _sma_grid(bars: BarArrays, params: Sequence[CrossParams]) -> FloatArray:
    """0/1 targets of many (fast, slow) pairs: every distinct window's SMA once, then one
    cross (or comparison) per pair into a compact int8 matrix."""
    windows = np.unique(np.asarray([w for p in params for w in (p.fast, p.slow)], np.int64))
    table = sma_many(bars.close, windows)
    row = {int(w): i for i, w in enumerate(windows.tolist())}
    out = np.zeros((len(params), bars.n), dtype=np.int8)
    for k, p in enumerate(params):
        out[k] = _cross_row(table[row[p.fast]], table[row[p.slow]], p.entry)
    return out  # type: ignore[return-value]


def _sma_cross(bars: BarArrays, params: CrossParams) -> FloatArray:
    out: FloatArray = _sma_grid(bars, [params])[0].astype(np.float64)
    return out


def _ema_cross(bars: BarArrays, params: CrossParams) -> FloatArray:
    fast = ema(bars.close, params.fast)
    slow = ema(bars.close, params.slow)
    return _cross_row(fast, slow, params.entry).astype(np.float64)


def _mean_reversion(bars: BarArrays, params: MeanReversionParams) -> FloatArray:
    z = zscore(bars.close, params.window)
    return hold_state(z < -params.z_entry, z > -params.z_exit)


def _momentum(bars: BarArrays, params: MomentumParams) -> FloatArray:
    return (rate_of_change(bars.close, params.window) > params.threshold).astype(np.float64)


def _rsi(bars: BarArrays, params: RsiParams) -> FloatArray:
    value = rsi(bars.close, params.period)
    return hold_state(value < params.oversold, value > params.overbought)


SIGNAL_STRATEGIES = (
    StrategyType(
        "buy_and_hold",
        "signal",
        "Buy at the first fill and hold.",
        NoParams,
        lambda p: 1,
        _buy_and_hold,
    ),
    StrategyType(
        "sma_cross",
        "signal",
        "Buy when SMA(fast) crosses above SMA(slow), sell when it crosses below.",
        CrossParams,
        lambda p: p.slow,
        _sma_cross,
        _sma_grid,
    ),
    StrategyType(
        "ema_cross",
        "signal",
        "Buy when EMA(fast) crosses above EMA(slow), sell when it crosses below.",
        CrossParams,
        lambda p: p.slow,
        _ema_cross,
    ),
    StrategyType(
        "mean_reversion",
        "signal",
        "Z-score / Bollinger mean reversion: buy below the lower band, sell on the way back.",
        MeanReversionParams,
        lambda p: p.window,
        _mean_reversion,
    ),
    StrategyType(
        "momentum",
        "signal",
        "Long while the rate of change is above a threshold.",
        MomentumParams,
        lambda p: p.window + 1,
        _momentum,
    ),
    StrategyType(
        "rsi",
        "signal",
        "Buy when RSI is oversold, sell when overbought.",
        RsiParams,
        lambda p: p.period + 1,
        _rsi,
    ),
)
