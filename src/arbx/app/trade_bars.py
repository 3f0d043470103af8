"""Bars built from stored trades for the intervals known complete, written to the bar store.

Shared by ``ImportTrades`` and ``BackfillTrades``: the trades come from the trade store (so a
file imported after its neighbour completes the interval the neighbour left open), the bars
from the tick -> OHLCV kernel, and the bar store's upsert makes a rebuild harmless.
"""

from __future__ import annotations

from collections.abc import Sequence

from arbx.domain.market import Exchange, SeriesKey, Timeframe, TimeSpan
from arbx.domain.market.trades import TradeKey
from arbx.domain.processing.trade_bars import closed_bars
from arbx.ports.bar_store import BarStore
from arbx.ports.trade_store import TradeStore


class TradeBars:
    def __init__(self, trades: TradeStore, bars: BarStore) -> None:
        self._trades = trades
        self._bars = bars

    async def write(
        self, key: TradeKey, timeframes: Sequence[Timeframe], start_ms: int, end_ms: int
    ) -> dict[Timeframe, int]:
        """Build and upsert the bars of every interval inside ``[start_ms, end_ms)``; the
        number of bars written (inserted or changed) per timeframe."""
        spans = {tf: (-(-start_ms // tf.ms) * tf.ms, end_ms // tf.ms * tf.ms) for tf in timeframes}
        wanted = [(lo, hi) for lo, hi in spans.values() if hi > lo]
        written: dict[Timeframe, int] = dict.fromkeys(timeframes, 0)
        if not wanted:
            return written
        # one read of the trades for every timeframe (each takes its own whole intervals)
        trades = await self._trades.read(
            key, TimeSpan.from_ms(min(lo for lo, _ in wanted), max(hi for _, hi in wanted))
        )
        for timeframe, (lo, hi) in spans.items():
            if hi <= lo:
                continue
            bars = closed_bars(trades, timeframe, lo, hi)
            series = SeriesKey(Exchange(key.venue), key.symbol, timeframe)
            written[timeframe] = await self._bars.write(series, bars) if bars.height else 0
        return written

    async def write_known(
        self, key: TradeKey, timeframes: Sequence[Timeframe], first_ms: int, last_ms: int
    ) -> dict[Timeframe, tuple[int, int, int]]:
        """Bars around trades just stored in ``[first_ms, last_ms]`` whose completeness only
        the stored trades tell: from the first interval holding a stored trade (one interval
        before ``first_ms`` at most, to finish what an earlier import left open) up to the
        interval of the newest stored trade, which is left out (it may go on). Per timeframe:
        (bars written, start ms, end ms of the span built)."""
        out: dict[Timeframe, tuple[int, int, int]] = {}
        for timeframe in timeframes:
            width = timeframe.ms
            lo = timeframe.floor_ms(first_ms) - width
            hi = timeframe.floor_ms(last_ms) + 2 * width
            near = await self._trades.read(key, TimeSpan.from_ms(lo, hi))
            if near.is_empty():
                out[timeframe] = (0, lo, lo)
                continue
            ts = near.get_column("ts").dt.epoch("ms")
            start = timeframe.floor_ms(int(ts.min()))  # type: ignore[arg-type]
            end = timeframe.floor_ms(int(ts.max()))  # type: ignore[arg-type]
            done = await self.write(key, [timeframe], start, end)
            out[timeframe] = (done[timeframe], start, end)
        return out
