"""Import a trade-history file into the trade store, and bars of its complete intervals.

The file is read whole and parsed before anything is stored: a file with one bad line stores
nothing and the error names the line and the column. Trades are stored by the venue's trade
id (a re-import stores nothing new); bars are then built from the stored trades with the
tick -> OHLCV kernel (``TradeBars.write_known``) and upserted into the bar store. This is how
Kraken history older than its REST OHLC window (the latest 720 intervals) gets into arbx:
Kraken's downloadable time-and-sales files.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import msgspec

from arbx.app.trade_bars import TradeBars
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Timeframe, from_ms
from arbx.domain.market.trade_files import TradeFormat, detect_format, parse_trade_file
from arbx.domain.market.trades import TradeKey
from arbx.ports.bar_store import BarStore
from arbx.ports.trade_files import TradeFileReader
from arbx.ports.trade_store import TradeStore


class ImportTradesCommand(msgspec.Struct, frozen=True):
    path: Path
    key: TradeKey
    format: TradeFormat = TradeFormat.AUTO
    timeframes: tuple[Timeframe, ...] = (Timeframe.M1,)
    member: str | None = None  # the file inside a zip that holds several


class BarsBuilt(msgspec.Struct, frozen=True):
    timeframe: Timeframe
    written: int
    start: datetime  # the span whose intervals were built, [start, end)
    end: datetime


class ImportTradesReport(msgspec.Struct, frozen=True):
    key: TradeKey
    file: str
    format: TradeFormat
    rows_read: int
    stored: int  # trades new to the store
    first_ts: datetime | None
    last_ts: datetime | None
    bars: list[BarsBuilt]

    @property
    def duplicates(self) -> int:
        """Trades the store held already (a re-import) or that the file repeats."""
        return self.rows_read - self.stored


class ImportTrades:
    def __init__(self, files: TradeFileReader, trades: TradeStore, bars: BarStore) -> None:
        self._files = files
        self._trades = trades
        self._bar_builder = TradeBars(trades, bars)

    async def execute(self, command: ImportTradesCommand) -> ImportTradesReport:
        content = self._files.read(command.path, command.member)
        fmt = command.format
        if fmt is TradeFormat.AUTO:
            fmt = detect_format(content.data, content.name)
        frame = parse_trade_file(content.data, fmt, content.name)
        if frame.is_empty():
            raise InvalidInput(f"{content.name} holds no trades", field="path")
        stored = await self._trades.write(command.key, frame)
        ts = frame.get_column("ts").dt.epoch("ms")
        first_ms, last_ms = int(ts.min()), int(ts.max())  # type: ignore[arg-type]
        built = await self._bar_builder.write_known(
            command.key, _unique(command.timeframes), first_ms, last_ms
        )
        return ImportTradesReport(
            key=command.key,
            file=content.name,
            format=fmt,
            rows_read=frame.height,
            stored=stored,
            first_ts=from_ms(first_ms),
            last_ts=from_ms(last_ms),
            bars=[
                BarsBuilt(tf, written, from_ms(start), from_ms(end))
                for tf, (written, start, end) in built.items()
            ],
        )


def _unique(timeframes: Sequence[Timeframe]) -> list[Timeframe]:
    return sorted(set(timeframes))
