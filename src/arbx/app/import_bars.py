"""Import bars from a file into the bar store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey
from arbx.domain.market.tabular import RejectedRow, TimeUnit, normalize_bar_table
from arbx.ports.bar_store import BarStore
from arbx.ports.table_files import TableFiles

Progress = Callable[[int, int], None]
"""Called with (rows written so far, rows to write)."""


class ImportCommand(msgspec.Struct, frozen=True):
    path: Path
    key: SeriesKey
    mapping: Mapping[str, str] = msgspec.field(default_factory=dict)
    time_unit: TimeUnit = TimeUnit.AUTO
    time_format: str | None = None
    skip_rows: int = 0
    has_header: bool = True


class ImportReport(msgspec.Struct, frozen=True):
    key: SeriesKey
    rows_read: int
    rows_accepted: int
    rows_written: int
    duplicates_dropped: int
    rejected: list[RejectedRow]

    @property
    def rows_rejected(self) -> int:
        """Source rows left out (a row breaking two rules counts once)."""
        return len({r.row for r in self.rejected})


class ImportBars:
    """Read a file, keep the valid bars, upsert them; report every rejected row and why.

    A file that is unusable as a whole (unreadable, a column missing, no valid row) raises
    ``InvalidInput`` before anything is written.
    """

    def __init__(self, files: TableFiles, store: BarStore, chunk_rows: int = 500_000) -> None:
        self._files = files
        self._store = store
        self._chunk_rows = chunk_rows

    async def execute(
        self, command: ImportCommand, progress: Progress | None = None
    ) -> ImportReport:
        raw = self._files.read(
            command.path, skip_rows=command.skip_rows, has_header=command.has_header
        )
        return await self.ingest_table(
            raw, command.key, command.mapping, command.time_unit, progress, command.time_format
        )

    async def ingest_table(
        self,
        raw: pl.DataFrame,
        key: SeriesKey,
        mapping: Mapping[str, str] | None = None,
        time_unit: TimeUnit = TimeUnit.AUTO,
        progress: Progress | None = None,
        time_format: str | None = None,
    ) -> ImportReport:
        """Normalize a raw table (as read from a file or an upload) and upsert its valid bars."""
        normalized = normalize_bar_table(raw, key.timeframe, mapping, time_unit, time_format)
        bars = normalized.bars
        written = 0
        for offset in range(0, bars.height, self._chunk_rows):
            written += await self._store.write(key, bars.slice(offset, self._chunk_rows))
            if progress is not None:
                progress(min(offset + self._chunk_rows, bars.height), bars.height)
        return ImportReport(
            key=key,
            rows_read=raw.height,
            rows_accepted=bars.height,
            rows_written=written,
            duplicates_dropped=normalized.duplicates_dropped,
            rejected=normalized.rejected,
        )


def key_from_file_name(path: Path) -> SeriesKey:
    """``kraken_BTC-USDC_1m.csv`` -> kraken:BTC/USDC:1m (the layout of the bundled samples)."""
    stem = path.name.split(".")[0]
    parts = stem.split("_")
    if len(parts) != 3:
        raise InvalidInput(
            f"cannot tell the series from the file name {path.name!r}; name it"
            " EXCHANGE_BASE-QUOTE_TIMEFRAME.csv (e.g. kraken_BTC-USDC_1m.csv) or give"
            " --exchange, --symbol and --timeframe",
            field="path",
        )
    return SeriesKey.of(*parts)


class LoadSamples:
    """Import every ``EXCHANGE_BASE-QUOTE_TF.csv`` of a folder (the bundled sample data)."""

    def __init__(self, importer: ImportBars, store: BarStore) -> None:
        self._importer = importer
        self._store = store

    async def execute(self, folder: Path, *, only_if_empty: bool) -> list[ImportReport]:
        if only_if_empty and await self._store.list_series():
            return []
        files = await asyncio.to_thread(
            lambda: sorted(p for p in folder.rglob("*.csv") if p.is_file())
        )
        if not files:
            raise InvalidInput(f"no sample CSV files under {folder}", field="path")
        return [
            await self._importer.execute(ImportCommand(path=path, key=key_from_file_name(path)))
            for path in files
        ]
