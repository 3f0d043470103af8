"""A BarStore on a local (or mounted) hive-partitioned Parquet dataset: the embedded default.

Layout and file naming: ``layout.py``. Atomic multi-file commits and crash recovery:
``transaction.py``. Within one process, writes and deletes of one series are serialized by a
per-series ``asyncio.Lock``; across processes (the server and a CLI import, say) by a lock
file per series (``flock``, POSIX). Blocking file work runs in worker threads. An interrupted
change of a series is finished or undone before the next operation on it (``recover``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TypeVar

import polars as pl

from arbx.adapters.parquet.layout import (
    TEMP_SUFFIX,
    Month,
    SeriesLayout,
    journal_keys,
    series_keys,
    split_by_month,
)
from arbx.adapters.parquet.transaction import Transaction, recover, series_lock
from arbx.domain.errors import ArbxError, StorageError, StorageUnavailable
from arbx.domain.market import BAR_COLUMNS, BAR_SCHEMA, SeriesKey, TimeSpan, empty_bars
from arbx.domain.market.series_ops import covered_spans, prepare_write, upsert_bars
from arbx.ports.bar_store import BarStore, SeriesInfo

T = TypeVar("T")
Item = TypeVar("Item")


class ParquetBarStore(BarStore):
    """Bars in ``<root>/ohlcv/exchange=…/symbol=…/timeframe=…/year=…/month=…/bars.parquet``."""

    def __init__(self, root: Path, *, workers: int | None = None) -> None:
        self._root = Path(root)
        self._workers = workers or min(4, os.cpu_count() or 1)
        self._locks: dict[SeriesKey, asyncio.Lock] = {}
        # Series this instance has recovered once (orphan temp files swept), and series whose
        # last operation failed part way (recovered again before the next one).
        self._recovered: set[SeriesKey] = set()
        self._dirty: set[SeriesKey] = set()

    @property
    def root(self) -> Path:
        return self._root

    # -- the port ---------------------------------------------------------------------------

    async def write(self, key: SeriesKey, bars: pl.DataFrame) -> int:
        # Validation is CPU work on the whole frame: keep it off the event loop.
        incoming = await asyncio.to_thread(prepare_write, key, bars)
        if incoming.is_empty():
            return 0
        return await self._locked(key, self._write_sync, key, incoming, creates=True)

    async def read(self, key: SeriesKey, span: TimeSpan) -> pl.DataFrame:
        return await self._locked(key, self._read_sync, key, span)

    async def list_series(self) -> list[SeriesInfo]:
        keys = await self._in_thread(self._known_keys_sync)
        infos = []
        for key in keys:
            info = await self._locked(key, self._info_sync, key)
            if info is not None:
                infos.append(info)
        return sorted(infos, key=lambda i: _sort_key(i.key))

    async def coverage(self, key: SeriesKey, span: TimeSpan | None = None) -> list[TimeSpan]:
        return await self._locked(key, self._coverage_sync, key, span)

    async def delete(self, key: SeriesKey, span: TimeSpan) -> int:
        return await self._locked(key, self._delete_sync, key, span)

    async def ping(self) -> None:
        await self._in_thread(self._ping_sync)

    # -- blocking work, run in a worker thread under the series lock ---------------------------

    def _write_sync(self, key: SeriesKey, incoming: pl.DataFrame) -> int:
        layout = SeriesLayout(self._root, key)
        tx = Transaction(layout)

        def merge_and_stage(part: tuple[Month, pl.DataFrame]) -> int:
            month, chunk = part
            target = layout.file(month)
            if target.is_file():
                merged, changed = upsert_bars(_read_file(target), chunk)
            else:
                merged, changed = chunk, chunk.height
            if changed:
                tx.stage(target, merged)
            return changed

        try:
            changed = sum(self._map(merge_and_stage, split_by_month(incoming)))
            if not tx.is_empty:
                tx.commit()
        except BaseException:
            tx.abort()
            raise
        return changed

    def _read_sync(self, key: SeriesKey, span: TimeSpan) -> pl.DataFrame:
        layout = SeriesLayout(self._root, key)
        months = [m for m in layout.months() if m.overlaps(span)]
        if not months:
            return empty_bars()
        scan = _scan([layout.file(m) for m in months])
        if not (months[0].within(span) and months[-1].within(span)):
            scan = scan.filter((pl.col("ts") >= span.start) & (pl.col("ts") < span.end))
        return _canonical(scan.collect(), layout.series_dir)

    def _info_sync(self, key: SeriesKey) -> SeriesInfo | None:
        layout = SeriesLayout(self._root, key)
        files = [layout.file(m) for m in layout.months()]
        if not files:
            return None
        rows = int(_scan(files).select(pl.len()).collect().item())
        first = _scan(files[:1]).select(pl.col("ts").min()).collect().item()
        last = _scan(files[-1:]).select(pl.col("ts").max()).collect().item()
        return SeriesInfo(key, first, last, rows)

    def _coverage_sync(self, key: SeriesKey, span: TimeSpan | None) -> list[TimeSpan]:
        layout = SeriesLayout(self._root, key)
        months = layout.months()
        if span is not None:
            months = [m for m in months if m.overlaps(span)]
        if not months:
            return []
        scan = _scan([layout.file(m) for m in months]).select("ts")
        if span is not None:
            scan = scan.filter((pl.col("ts") >= span.start) & (pl.col("ts") < span.end))
        return covered_spans(scan.collect().get_column("ts"), key.timeframe)

    def _delete_sync(self, key: SeriesKey, span: TimeSpan) -> int:
        layout = SeriesLayout(self._root, key)
        tx = Transaction(layout)
        inside = (pl.col("ts") >= span.start) & (pl.col("ts") < span.end)
        removed = 0
        try:
            for month in layout.months():
                if not month.overlaps(span):
                    continue
                target = layout.file(month)
                if month.within(span):
                    removed += _row_count(target)
                    tx.remove(target)
                    continue
                existing = _read_file(target)
                kept = existing.filter(~inside)
                if kept.height == existing.height:
                    continue
                removed += existing.height - kept.height
                if kept.is_empty():
                    tx.remove(target)
                else:
                    tx.stage(target, kept)
            if not tx.is_empty:
                tx.commit()
        except BaseException:
            tx.abort()
            raise
        _prune_empty_dirs(layout)
        return removed

    def _ping_sync(self) -> None:
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            probe = self._root / f".ping.{uuid.uuid4().hex}{TEMP_SUFFIX}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageUnavailable(
                f"the Parquet store at {self._root} is not usable ({exc.strerror or exc});"
                " check that the folder exists and is writable"
            ) from exc

    def _known_keys_sync(self) -> list[SeriesKey]:
        return sorted({*series_keys(self._root), *journal_keys(self._root)}, key=_sort_key)

    def _with_series(self, key: SeriesKey, creates: bool, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn`` holding the series' lock file, after finishing any interrupted change.

        Reading or deleting a series nobody ever wrote takes (and creates) no lock file.
        """
        layout = SeriesLayout(self._root, key)
        if not creates and not layout.series_dir.exists() and not layout.journal.exists():
            return fn(*args)
        with series_lock(layout):
            if key not in self._recovered or key in self._dirty or layout.journal.exists():
                recover(layout)
                self._recovered.add(key)
                self._dirty.discard(key)
            try:
                return fn(*args)
            except BaseException:
                self._dirty.add(key)
                raise

    # -- plumbing ---------------------------------------------------------------------------

    def _map(self, fn: Callable[[Item], int], items: Sequence[Item]) -> list[int]:
        """Run ``fn`` over ``items`` on a few threads; wait for all, then raise the first error."""
        if len(items) <= 1 or self._workers <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(self._workers, thread_name_prefix="arbx-parquet") as pool:
            futures: list[Future[int]] = [pool.submit(fn, item) for item in items]
            wait(futures)
        return [f.result() for f in futures]

    async def _locked(
        self, key: SeriesKey, fn: Callable[..., T], *args: object, creates: bool = False
    ) -> T:
        """Serialize operations on one series: in this process (asyncio) and across processes
        (a lock file held by the worker thread)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            return await self._in_thread(self._with_series, key, creates, fn, *args)

    async def _in_thread(self, fn: Callable[..., T], *args: object) -> T:
        """Run blocking work in a thread; translate file errors; never abandon it half done.

        When the caller is cancelled, the work still runs to its end before the cancellation
        propagates, so the series lock is never released while files are changing.
        """
        task = asyncio.ensure_future(asyncio.to_thread(_translated, self._root, fn, *args))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait({task})
            if not task.cancelled():
                task.exception()
            raise


def _translated(root: Path, fn: Callable[..., T], *args: object) -> T:
    try:
        return fn(*args)
    except ArbxError:
        raise
    except OSError as exc:
        raise StorageUnavailable(
            f"the Parquet store at {root} failed: {exc}; check the disk and the folder's"
            " permissions"
        ) from exc
    except pl.exceptions.PolarsError as exc:
        raise StorageError(f"the Parquet store at {root} holds an unreadable file: {exc}") from exc


def _scan(files: list[Path]) -> pl.LazyFrame:
    return pl.scan_parquet(files, hive_partitioning=False, glob=False)


def _read_file(path: Path) -> pl.DataFrame:
    return _canonical(pl.read_parquet(path, hive_partitioning=False, glob=False), path)


def _row_count(path: Path) -> int:
    return int(_scan([path]).select(pl.len()).collect().item())


def _canonical(frame: pl.DataFrame, where: Path) -> pl.DataFrame:
    if frame.schema != BAR_SCHEMA:
        try:
            return frame.select(BAR_COLUMNS).cast(pl.Schema(BAR_SCHEMA))
        except pl.exceptions.PolarsError as exc:
            raise StorageError(
                f"{where} does not hold bars in the canonical schema ({dict(frame.schema)})"
            ) from exc
    return frame


def _prune_empty_dirs(layout: SeriesLayout) -> None:
    """Remove month, year and series folders a delete left empty (best effort)."""
    dataset = layout.series_dir.parent.parent.parent
    for month_dir in sorted(layout.series_dir.glob("year=*/month=*"), reverse=True):
        folder = month_dir
        while folder != dataset:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent


def _sort_key(key: SeriesKey) -> tuple[str, str, str, int]:
    return (key.exchange.id, key.symbol.base, key.symbol.quote, key.timeframe.ms)
