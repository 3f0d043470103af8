"""Where a bar series lives on disk: a hive-partitioned dataset with one file per month.

    <root>/ohlcv/exchange=binance/symbol=BTC-USDC/timeframe=1m/year=2024/month=01/bars.parquet

Temporary files are hidden (``.bars.<txid>.tmp``) and never end in ``.parquet``, so a dataset
scan (``pl.scan_parquet(root / "ohlcv" / "**/*.parquet", hive_partitioning=True)``) never sees
them. Commit records of multi-file writes live outside the dataset, in ``<root>/_journal/``;
the lock files that serialize writers of one series across processes in ``<root>/_locks/``.
A lock file also holds its series' generation token (see ``cache.py``), and
``<root>/_locks/catalog.generation`` the token of the whole dataset.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan, from_ms, to_ms

DATASET_DIR = "ohlcv"
JOURNAL_DIR = "_journal"
LOCK_DIR = "_locks"
FILE_NAME = "bars.parquet"
CATALOG_TOKEN = "catalog.generation"
TEMP_PREFIX = ".bars."
TEMP_SUFFIX = ".tmp"


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """One partition of a series: a calendar month in UTC."""

    year: int
    month: int

    @classmethod
    def of_ms(cls, ms: int) -> Month:
        moment = from_ms(ms)
        return cls(moment.year, moment.month)

    @property
    def start_ms(self) -> int:
        return to_ms(datetime(self.year, self.month, 1, tzinfo=UTC))

    @property
    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    @property
    def end_ms(self) -> int:
        return self.next.start_ms

    def within(self, span: TimeSpan) -> bool:
        """True when the whole month lies inside ``span``."""
        return span.start_ms <= self.start_ms and self.end_ms <= span.end_ms

    def overlaps(self, span: TimeSpan) -> bool:
        return self.start_ms < span.end_ms and span.start_ms < self.end_ms

    @property
    def dir_name(self) -> str:
        return f"year={self.year:04d}/month={self.month:02d}"


@dataclass(frozen=True, slots=True)
class SeriesLayout:
    """The paths of one series under a store root."""

    root: Path
    key: SeriesKey

    @property
    def series_dir(self) -> Path:
        key = self.key
        return (
            self.root
            / DATASET_DIR
            / f"exchange={key.exchange.id}"
            / f"symbol={key.symbol.slug}"
            / f"timeframe={key.timeframe.value}"
        )

    @property
    def journal(self) -> Path:
        key = self.key
        name = f"{key.exchange.id}~{key.symbol.slug}~{key.timeframe.value}.json"
        return self.root / JOURNAL_DIR / name

    @property
    def lock_file(self) -> Path:
        key = self.key
        name = f"{key.exchange.id}~{key.symbol.slug}~{key.timeframe.value}.lock"
        return self.root / LOCK_DIR / name

    @property
    def catalog_token(self) -> Path:
        """Changed by every change of any series of the dataset (see ``cache.py``)."""
        return catalog_token(self.root)

    def month_dir(self, month: Month) -> Path:
        return self.series_dir / f"year={month.year:04d}" / f"month={month.month:02d}"

    def file(self, month: Month) -> Path:
        return self.month_dir(month) / FILE_NAME

    def months(self) -> list[Month]:
        """The months that hold a data file, sorted."""
        found = []
        for year_dir in _subdirs(self.series_dir, "year="):
            for month_dir in _subdirs(year_dir, "month="):
                month = _parse_month(year_dir.name, month_dir.name)
                if month is not None and (month_dir / FILE_NAME).is_file():
                    found.append(month)
        return sorted(found)

    def temp_files(self) -> Iterator[Path]:
        """Every temporary file left in the series' partitions (orphans after a crash)."""
        for year_dir in _subdirs(self.series_dir, "year="):
            for month_dir in _subdirs(year_dir, "month="):
                with os.scandir(month_dir) as entries:
                    for entry in entries:
                        if entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX):
                            yield Path(entry.path)


def catalog_token(root: Path) -> Path:
    return root / LOCK_DIR / CATALOG_TOKEN


def series_keys(root: Path) -> list[SeriesKey]:
    """Every series that has a directory under ``root`` (foreign directories are ignored)."""
    keys = []
    for exchange_dir in _subdirs(root / DATASET_DIR, "exchange="):
        for symbol_dir in _subdirs(exchange_dir, "symbol="):
            for timeframe_dir in _subdirs(symbol_dir, "timeframe="):
                try:
                    keys.append(
                        SeriesKey.of(
                            exchange_dir.name.removeprefix("exchange="),
                            symbol_dir.name.removeprefix("symbol="),
                            timeframe_dir.name.removeprefix("timeframe="),
                        )
                    )
                except InvalidInput:
                    continue
    return keys


def journal_keys(root: Path) -> list[SeriesKey]:
    """Every series with a commit record (an interrupted multi-file change) under ``root``."""
    keys = []
    try:
        with os.scandir(root / JOURNAL_DIR) as entries:
            names = [e.name for e in entries if e.name.endswith(".json")]
    except FileNotFoundError:
        return []
    for name in names:
        parts = name.removesuffix(".json").split("~")
        if len(parts) != 3:
            continue
        try:
            keys.append(SeriesKey.of(*parts))
        except InvalidInput:
            continue
    return keys


def split_by_month(bars: pl.DataFrame) -> list[tuple[Month, pl.DataFrame]]:
    """Cut a frame sorted by ts into zero-copy slices, one per calendar month."""
    if bars.is_empty():
        return []
    ms = bars.get_column("ts").to_physical().to_numpy()
    month = Month.of_ms(int(ms[0]))
    last = Month.of_ms(int(ms[-1]))
    months = [month]
    while month < last:
        month = month.next
        months.append(month)
    bounds = np.searchsorted(ms, [m.start_ms for m in months[1:]], side="left")
    edges = [0, *(int(b) for b in bounds), bars.height]
    return [
        (m, bars.slice(lo, hi - lo))
        for m, lo, hi in zip(months, edges[:-1], edges[1:], strict=True)
        if hi > lo
    ]


def _subdirs(path: Path, prefix: str) -> list[Path]:
    try:
        with os.scandir(path) as entries:
            return sorted(Path(e.path) for e in entries if e.name.startswith(prefix) and e.is_dir())
    except FileNotFoundError:
        return []


def _parse_month(year_name: str, month_name: str) -> Month | None:
    year = year_name.removeprefix("year=")
    month = month_name.removeprefix("month=")
    if not (year.isdigit() and month.isdigit()) or not 1 <= int(month) <= 12:
        return None
    return Month(int(year), int(month))
