"""Bollinger breakout: a signal strategy written with the ``arbx.strategy`` plugin API.

Long when a bar closes above the upper Bollinger band (SMA + k standard deviations of the
last ``window`` closes), flat again when it closes below the middle band (the SMA). Every
value at bar t is computed from closes up to t only.

Try it: ``arbx --data-dir var strategies check bollinger_breakout`` with this folder in
``[strategies] paths`` (or ``ARBX_STRATEGIES__PATHS='["examples/strategies"]'``).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from arbx.strategy import Bars, Params, Range, Signals, signal

__version__ = "1.0.0"


class BollingerParams(Params):
    window: Annotated[int, Range(ge=2, le=2000)] = 20
    k: Annotated[float, Range(gt=0.0, le=10.0)] = 2.0


@signal(params=BollingerParams, lookback=lambda p: p.window)
def bollinger_breakout(bars: Bars, p: BollingerParams) -> Signals:
    """Long on a close above the upper Bollinger band, flat below the middle band."""
    close = bars.close
    mean = np.full(close.size, np.nan)
    std = np.full(close.size, np.nan)
    if close.size >= p.window:
        windows = sliding_window_view(close, p.window)  # row i: closes i .. i+window-1
        mean[p.window - 1 :] = windows.mean(axis=1)
        std[p.window - 1 :] = windows.std(axis=1)
    with np.errstate(invalid="ignore"):
        entries = close > mean + p.k * std  # NaN (warm-up) compares False
        exits = close < mean
    return Signals(entries=entries, exits=exits)
