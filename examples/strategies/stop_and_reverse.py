"""Stop and reverse on a price channel: an event strategy written with ``arbx.strategy``.

The engine is long/flat, so "reverse" is flat <-> long: while flat, a buy STOP order waits
at the highest high of the last ``window`` bars (a breakout buys); once it fills
(``on_fill``), a sell STOP order protects the position at the lowest low of the last
``exit_window`` bars and trails up bar by bar; when the sell stop fills, a new buy stop is
placed. Levels at bar t use bars up to t only; orders fill from bar t+1 on.
"""

from __future__ import annotations

from typing import Annotated

from arbx.strategy import Context, Fill, Order, Params, Range, event

__version__ = "1.0.0"


class StopAndReverseParams(Params):
    window: Annotated[int, Range(ge=2, le=2000)] = 20
    exit_window: Annotated[int, Range(ge=2, le=2000)] = 10


@event(params=StopAndReverseParams, lookback=lambda p: max(p.window, p.exit_window))
class StopAndReverse:
    """Buy stop at the channel high while flat; trailing sell stop at the channel low
    while long."""

    def __init__(self, params: StopAndReverseParams) -> None:
        self.p = params
        self.entry: Order | None = None
        self.exit: Order | None = None
        self.fills = 0

    def on_fill(self, ctx: Context, fill: Fill) -> None:
        self.fills += 1
        if fill.side > 0:
            self.entry = None
        else:
            self.exit = None

    def on_bar(self, ctx: Context) -> None:
        bars = ctx.history()
        if bars.n < max(self.p.window, self.p.exit_window):
            return
        if ctx.position > 0:
            level = float(bars.low[-self.p.exit_window :].min())
            if self.exit is not None and self.exit.stop is not None and level <= self.exit.stop:
                return  # the stop only trails up
            if self.exit is not None:
                ctx.cancel(self.exit)
            self.exit = ctx.sell(kind="stop", stop=level)
        else:
            level = float(bars.high[-self.p.window :].max())
            if self.entry is not None:
                ctx.cancel(self.entry)
            self.entry = ctx.buy(kind="stop", stop=level)
