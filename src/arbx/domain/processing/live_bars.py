"""Bars built live from a trade stream, for closed intervals only.

Trades are held per (venue, symbol) until their interval closes: when a trade of a later
interval arrives, or when the clock passes the interval's end plus a grace. A closed
interval becomes one bar through the tick->OHLCV kernel (``ticks_to_bars``), so a bar is
what the venue's candle for the same interval says when every trade of it was seen. An
interval that may lack trades is never written:

- the first interval of each pair (the stream may have started in the middle of it);
- the intervals open when the connection was lost (``reconnected``): the next interval
  seen is treated as a first one again.

Trades that arrive for an interval already closed are counted (``late``) and left out.
Trades seen twice (a venue replaying after a reconnect) are used once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl

from arbx.domain.market import Exchange, SeriesKey, Timeframe
from arbx.domain.market.trades import Trade, TradeKey
from arbx.domain.processing.ticks import ticks_to_bars


@dataclass(slots=True)
class _Pending:
    first_full: int | None  # the first interval start (ms) known to be complete
    closed_until: int  # intervals starting before this are closed (written or skipped)
    trades: dict[str, Trade] = field(default_factory=dict)


class LiveBars:
    def __init__(self, timeframes: Sequence[Timeframe], *, grace_ms: int = 5_000) -> None:
        self._timeframes = tuple(dict.fromkeys(timeframes))
        self._grace = grace_ms
        self._pending: dict[tuple[TradeKey, Timeframe], _Pending] = {}
        self.late = 0
        self.written = 0

    @property
    def timeframes(self) -> tuple[Timeframe, ...]:
        return self._timeframes

    def add(self, trades: Iterable[Trade]) -> None:
        for trade in trades:
            for tf in self._timeframes:
                start = tf.floor_ms(trade.ts_us // 1000)
                slot = self._pending.get((trade.key, tf))
                if slot is None:
                    slot = _Pending(first_full=start + tf.ms, closed_until=start)
                    self._pending[(trade.key, tf)] = slot
                if start < slot.closed_until:
                    self.late += 1
                    continue
                if slot.first_full is None:  # the first trade after a reconnect
                    slot.first_full = start + tf.ms
                slot.trades.setdefault(trade.trade_id, trade)

    def reconnected(self) -> None:
        """The connection was lost: the intervals open now may lack trades."""
        for slot in self._pending.values():
            slot.trades.clear()
            slot.first_full = None  # the interval of the next trade seen is a first one

    def close(self, now_ms: int) -> list[tuple[SeriesKey, pl.DataFrame]]:
        """The bars of every interval closed by now (trades of a later interval seen, or
        ``now_ms`` past its end plus the grace), complete ones only; each once."""
        out: list[tuple[SeriesKey, pl.DataFrame]] = []
        for (key, tf), slot in self._pending.items():
            if not slot.trades:
                continue
            newest = max(tf.floor_ms(t.ts_us // 1000) for t in slot.trades.values())
            by_clock = tf.floor_ms(now_ms - self._grace)  # intervals before it are over
            watermark = max(newest, by_clock)  # intervals starting before it are closed
            if watermark <= slot.closed_until:
                continue
            done = [t for t in slot.trades.values() if tf.floor_ms(t.ts_us // 1000) < watermark]
            for trade in done:
                del slot.trades[trade.trade_id]
            slot.closed_until = watermark
            first = slot.first_full if slot.first_full is not None else watermark
            complete = [t for t in done if tf.floor_ms(t.ts_us // 1000) >= first]
            if not complete:
                continue
            complete.sort(key=lambda t: (t.ts_us, _order(t.trade_id)))
            bars = ticks_to_bars(
                pl.DataFrame(
                    {
                        "ts": [t.ts_us // 1000 for t in complete],
                        "price": [t.price for t in complete],
                        "qty": [t.qty for t in complete],
                    },
                    schema={"ts": pl.Int64, "price": pl.Float64, "qty": pl.Float64},
                ),
                tf,
            )
            self.written += bars.height
            out.append((SeriesKey(Exchange(key.venue), key.symbol, tf), bars))
        return out


def _order(trade_id: str) -> tuple[int, int | str]:
    """Trades of one time in the venue's order: numeric ids numerically."""
    return (0, int(trade_id)) if trade_id.isdigit() else (1, trade_id)
