"""Pairs reversion over two series: an event strategy over several series, with ``arbx.strategy``.

Give it two series quoted in one currency (BTC/USDC on two venues, or BTC/USDC and
ETH/USDC). At every time both have a bar it records the log price ratio
``log(close_0 / close_1)`` and its z-score over the last ``window`` such times. The engine
is long/flat, so it trades the cheap side only: above ``entry_z`` the second series is
cheap against the first and is bought, below ``-entry_z`` the first is bought; the position
is sold once ``|z|`` falls below ``exit_z``. Everything is decided from bars up to now;
orders fill at the named series' next bar.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np

from arbx.strategy import MultiContext, Params, Range, event

__version__ = "1.0.0"


class PairsParams(Params):
    window: Annotated[int, Range(ge=5, le=5000)] = 60
    entry_z: Annotated[float, Range(gt=0.0, le=10.0)] = 2.0
    exit_z: Annotated[float, Range(ge=0.0, le=10.0)] = 0.5


@event(params=PairsParams, lookback=lambda p: p.window, min_series=2, max_series=2)
class PairsReversion:
    """Buy the cheap leg of a pair when its log price ratio strays more than entry_z
    standard deviations from its rolling mean; sell when it comes back within exit_z."""

    def __init__(self, params: PairsParams) -> None:
        self.p = params
        self.ratio: list[float] = []
        self.holding: int | None = None

    def on_bar(self, ctx: MultiContext) -> None:
        if not (ctx.has_bar(0) and ctx.has_bar(1)):
            return
        a = float(ctx.history(0).close[-1])
        b = float(ctx.history(1).close[-1])
        self.ratio.append(math.log(a / b))
        if len(self.ratio) < self.p.window or ctx.open_orders:
            return
        recent = np.asarray(self.ratio[-self.p.window :])
        sd = float(recent.std())
        if sd == 0.0:
            return
        z = (recent[-1] - float(recent.mean())) / sd
        if self.holding is not None and ctx.position(self.holding) <= 0.0:
            self.holding = None  # the buy did not fill (too small): start again
        if self.holding is None:
            if z > self.p.entry_z:
                self.holding = 1
                ctx.buy(1)
            elif z < -self.p.entry_z:
                self.holding = 0
                ctx.buy(0)
        elif abs(z) < self.p.exit_z:
            ctx.sell(self.holding)
            self.holding = None
