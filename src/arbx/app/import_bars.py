"""Import bars from a file into the bar store, validated on the way in.

Ingest runs the quality rules (``validate_for_ingest``) before anything is written: rows that
break an integrity rule are rejected and reported, the rest are stored, and the findings on the
stored bars (stale runs, outliers, cross-venue deviations...) replace the stored findings of the
imported span in the QualityStore. ``arbx data validate`` re-checks a whole stored series.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import polars as pl

from arbx.app.validate_series import peer_bars
from arbx.domain.errors import InvalidInput
from arbx.domain.market import BAR_COLUMNS, SeriesKey, TimeSpan
from arbx.domain.market.tabular import (
    NormalizedBars,
    RejectedRow,
    TimeUnit,
    normalize_bar_table,
)
from arbx.domain.quality import (
    IngestSplit,
    Rule,
    Severity,
    ValidationConfig,
    frame_to_issues,
    validate_for_ingest,
)
from arbx.ports.bar_store import BarStore
from arbx.ports.clock import Clock
from arbx.ports.quality_store import QualityStore
from arbx.ports.table_files import Location, TableFiles, location_name

Progress = Callable[[int, int], None]
"""Called with (rows written so far, rows to write)."""


class ImportCommand(msgspec.Struct, frozen=True):
    path: Location  # a file, or an s3://BUCKET/KEY object
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
    quality_score: float | None = None  # per-series score of the stored bars (see scoring)
    issues_by_severity: dict[str, int] = msgspec.field(default_factory=dict)
    issues_by_rule: dict[str, int] = msgspec.field(default_factory=dict)
    issues_stored: int = 0  # findings recorded in the QualityStore (0 without one)

    @property
    def rows_rejected(self) -> int:
        """Source rows left out (a row breaking two rules counts once)."""
        return len({r.row for r in self.rejected})


class ImportBars:
    """Read a file, validate it, upsert the valid bars; report every rejected row and why.

    A file that is unusable as a whole (unreadable, a column missing, no valid row) raises
    ``InvalidInput`` before anything is written. Rows breaking an integrity rule (the bar
    rules, a bar in the future or still forming by ``clock``) are rejected; the findings on the
    stored bars go to ``quality`` (when given), compared with the same pair on the other venues
    of the bar store. Without a clock the system time is used.
    """

    def __init__(
        self,
        files: TableFiles,
        store: BarStore,
        quality: QualityStore | None = None,
        clock: Clock | None = None,
        *,
        chunk_rows: int = 500_000,
        config: ValidationConfig | None = None,
    ) -> None:
        self._files = files
        self._store = store
        self._quality = quality
        self._clock = clock
        self._chunk_rows = chunk_rows
        self._config = config

    async def execute(
        self, command: ImportCommand, progress: Progress | None = None
    ) -> ImportReport:
        # file I/O and parsing block: keep them off the event loop
        raw = await asyncio.to_thread(
            self._files.read,
            command.path,
            skip_rows=command.skip_rows,
            has_header=command.has_header,
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
        """Normalize a raw table (as read from a file or an upload), validate it and upsert
        its valid bars; record the findings on them."""
        normalized = normalize_bar_table(raw, key.timeframe, mapping, time_unit, time_format)
        incoming = normalized.bars
        span = _span_of(key, incoming)
        others = await peer_bars(self._store, key, span)
        now = self._clock.now() if self._clock is not None else datetime.now(UTC)
        split = validate_for_ingest(key, incoming, now=now, others=others, config=self._config)
        rejected = normalized.rejected + _rejected_rows(split, normalized)
        rejected.sort(key=lambda r: (r.row, r.column))
        bars = split.accepted.select(BAR_COLUMNS)
        if bars.is_empty():
            raise InvalidInput(
                f"no usable row: all {raw.height} rows were rejected"
                + (f" (first: row {rejected[0].row}, {rejected[0].message})" if rejected else ""),
                field="file",
                details=[msgspec.structs.asdict(r) for r in rejected[:100]],
            )
        written = 0
        for offset in range(0, bars.height, self._chunk_rows):
            written += await self._store.write(key, bars.slice(offset, self._chunk_rows))
            if progress is not None:
                progress(min(offset + self._chunk_rows, bars.height), bars.height)
        kept = split.issues.filter(pl.col("severity") != Severity.ERROR.value)
        stored = 0
        if self._quality is not None:
            stored = await self._quality.replace_issues(
                key, _span_of(key, bars), frame_to_issues(key, kept)
            )
        return ImportReport(
            key=key,
            rows_read=raw.height,
            rows_accepted=bars.height,
            rows_written=written,
            duplicates_dropped=normalized.duplicates_dropped,
            rejected=rejected,
            quality_score=split.score.score,
            issues_by_severity=dict(Counter(kept.get_column("severity").to_list())),
            issues_by_rule=dict(sorted(Counter(kept.get_column("rule").to_list()).items())),
            issues_stored=stored,
        )


def _span_of(key: SeriesKey, bars: pl.DataFrame) -> TimeSpan:
    """From the first bar's open to the last bar's close (``bars`` sorted, not empty)."""
    ts = bars.get_column("ts")
    return TimeSpan(ts[0], ts[-1] + key.timeframe.duration)


def _rejected_rows(split: IngestSplit, normalized: NormalizedBars) -> list[RejectedRow]:
    """The rows validation rejected after normalization (a bar in the future or still forming),
    numbered as in the source table."""
    if split.rejected.is_empty():
        return []
    sources = pl.DataFrame(
        {"ts": normalized.bars.get_column("ts"), "source": normalized.source_rows}
    )
    found = split.rejected.join(sources, on="ts", how="left")
    return [
        RejectedRow(
            int(row["source"]),
            "ts",
            row["reasons"] or "rejected",
            f"bar at {row['ts']:%Y-%m-%d %H:%M} UTC {_why(row['reasons'])}"
            f" ({row['reasons']}); only closed bars from 1970 on are stored",
        )
        for row in found.iter_rows(named=True)
    ]


def _why(reasons: str | None) -> str:
    if reasons and Rule.TS_BEFORE_EPOCH in reasons:
        return "is before 1970 (a mis-read time unit or date?)"
    return "is in the future or still forming"


def key_from_file_name(path: Location) -> SeriesKey:
    """``kraken_BTC-USDC_1m.csv`` -> kraken:BTC/USDC:1m (the layout of the bundled samples)."""
    name = location_name(path)
    stem = name.split(".")[0]
    parts = stem.split("_")
    if len(parts) != 3:
        raise InvalidInput(
            f"cannot tell the series from the file name {name!r}; name it"
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
