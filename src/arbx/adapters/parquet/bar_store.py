"""A BarStore on a local (or mounted) hive-partitioned Parquet dataset: the embedded default.

Layout and file naming: ``layout.py``. Atomic multi-file commits and crash recovery:
``transaction.py``. Within one process, writes and deletes of one series are serialized by a
per-series ``asyncio.Lock``; across processes (the server and a CLI import, say) by a lock
file per series (``flock``, POSIX). Blocking file work runs in worker threads. An interrupted
change of a series is finished or undone before the next operation on it (``recover``).

Reads are served from a cache of decoded month files when it is still valid (``cache.py``):
checking that takes a few small system calls (reading the series' generation token, a
``stat`` per month file), done on the event loop, with no thread hop and no lock; anything
else runs under the series lock in a worker thread. The cache is a collaborator the store
always asks: with the cache off it is an ``EmptyCache``, which misses every time.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TypeVar

import polars as pl

from arbx.adapters.parquet.cache import (
    EmptyCache,
    FileStamp,
    Partition,
    ReadCache,
    SeriesState,
    Staged,
)
from arbx.adapters.parquet.layout import (
    TEMP_SUFFIX,
    Month,
    SeriesLayout,
    catalog_token,
    journal_keys,
    series_keys,
    split_by_month,
)
from arbx.adapters.parquet.tokens import TOKEN_BYTES, TokenView, bump, read_token
from arbx.adapters.parquet.transaction import Transaction, recover, series_lock
from arbx.domain.errors import ArbxError, StorageError, StorageUnavailable
from arbx.domain.market import BAR_COLUMNS, BAR_SCHEMA, SeriesKey, TimeSpan, empty_bars
from arbx.domain.market.series_ops import covered_spans, prepare_write, upsert_bars
from arbx.ports.bar_store import BarStore, SeriesInfo

T = TypeVar("T")
Item = TypeVar("Item")

_EMPTY = empty_bars()


class ParquetBarStore(BarStore):
    """Bars in ``<root>/ohlcv/exchange=…/symbol=…/timeframe=…/year=…/month=…/bars.parquet``."""

    def __init__(
        self, root: Path, *, cache: ReadCache | None = None, workers: int | None = None
    ) -> None:
        """``cache``: what to keep between reads (``cache.read_cache(cache_bytes)``); none by
        default."""
        self._root = Path(root)
        self._workers = workers or min(4, os.cpu_count() or 1)
        self._cache: ReadCache = cache if cache is not None else EmptyCache()
        self._holding = threading.local()  # .lock is True while a thread holds a series lock
        self._locks: dict[SeriesKey, asyncio.Lock] = {}
        # Series this instance has recovered once (orphan temp files swept), and series whose
        # last operation failed part way (recovered again before the next one).
        self._recovered: set[SeriesKey] = set()
        self._dirty: set[SeriesKey] = set()

    @property
    def root(self) -> Path:
        return self._root

    @property
    def cache(self) -> ReadCache:
        return self._cache

    # -- the port ---------------------------------------------------------------------------

    async def write(self, key: SeriesKey, bars: pl.DataFrame) -> int:
        # Validation is CPU work on the whole frame: keep it off the event loop.
        incoming = await asyncio.to_thread(prepare_write, key, bars)
        if incoming.is_empty():
            return 0
        return await self._locked(key, self._write_sync, key, incoming, creates=True)

    async def read(self, key: SeriesKey, span: TimeSpan) -> pl.DataFrame:
        state = self._valid_state(key)
        if state is not None:
            bars = self._cached_bars(state, span.start_ms, span.end_ms, check=True)
            if bars is not None:
                return bars
        return await self._locked(key, self._read_sync, key, span)

    async def list_series(self) -> list[SeriesInfo]:
        cached = self._cache.catalog()
        if cached is not None:
            return cached
        catalog, keys = await self._in_thread(self._known_keys_sync)
        infos = []
        for key in keys:
            state = self._valid_state(key)
            info = state.info if state is not None else None
            if info is None:
                info = await self._locked(key, self._info_sync, key)
            if info is not None:
                infos.append(info)
        infos.sort(key=lambda i: _sort_key(i.key))
        if catalog is not None:
            self._cache.set_catalog(*catalog, infos)
        return infos

    async def coverage(self, key: SeriesKey, span: TimeSpan | None = None) -> list[TimeSpan]:
        state = self._valid_state(key)
        if state is not None and span is None and state.coverage is not None:
            return list(state.coverage)
        return await self._locked(key, self._coverage_sync, key, span)

    async def delete(self, key: SeriesKey, span: TimeSpan) -> int:
        return await self._locked(key, self._delete_sync, key, span)

    async def ping(self) -> None:
        await self._in_thread(self._ping_sync)

    # -- blocking work, run in a worker thread under the series lock ---------------------------

    def _write_sync(self, key: SeriesKey, incoming: pl.DataFrame) -> int:
        layout = SeriesLayout(self._root, key)
        tx = Transaction(layout)
        staged: list[Staged] = []

        def merge_and_stage(part: tuple[Month, pl.DataFrame]) -> int:
            month, chunk = part
            target = layout.file(month)
            existing = self._load(target, keep=False)
            if existing is not None:
                merged, changed = upsert_bars(existing, chunk)
            else:
                merged, changed = chunk, chunk.height
            if changed:
                tx.stage(target, merged)
                # a new month is a slice of the incoming frame (a cache keeps a copy)
                staged.append(Staged(target, merged, borrowed=merged is chunk))
            return changed

        try:
            changed = sum(self._map(merge_and_stage, split_by_month(incoming)))
            if not tx.is_empty:
                tx.commit()
                self._cache.committed(key, staged, [])
        except BaseException:
            tx.abort()
            raise
        return changed

    def _read_sync(self, key: SeriesKey, span: TimeSpan) -> pl.DataFrame:
        state = self._state_sync(key, SeriesLayout(self._root, key))
        bars = self._cached_bars(state, span.start_ms, span.end_ms, check=False, load=True)
        assert bars is not None  # loading never gives up
        return bars

    def _info_sync(self, key: SeriesKey) -> SeriesInfo | None:
        state = self._state_sync(key, SeriesLayout(self._root, key))
        if state.info is None and state.months:
            state.info = self._info_of(key, state.files, state.stamps)
        return state.info

    def _info_of(
        self, key: SeriesKey, files: tuple[Path, ...], stamps: tuple[FileStamp, ...]
    ) -> SeriesInfo:
        """From cached month files when all are cached, else from the files' metadata."""
        parts = [self._cache.get(f, s) for f, s in zip(files, stamps, strict=True)]
        if all(p is not None for p in parts) and all(p.frame.height for p in parts if p):
            frames = [p.frame for p in parts if p is not None]
            rows = sum(f.height for f in frames)
            return SeriesInfo(key, frames[0]["ts"][0], frames[-1]["ts"][-1], rows)
        rows = int(_scan(list(files)).select(pl.len()).collect().item())
        first = _scan(list(files[:1])).select(pl.col("ts").min()).collect().item()
        last = _scan(list(files[-1:])).select(pl.col("ts").max()).collect().item()
        return SeriesInfo(key, first, last, rows)

    def _coverage_sync(self, key: SeriesKey, span: TimeSpan | None) -> list[TimeSpan]:
        state = self._state_sync(key, SeriesLayout(self._root, key))
        if span is None and state.coverage is not None:
            return list(state.coverage)
        whole = span or TimeSpan.everything()
        bars = self._cached_bars(state, whole.start_ms, whole.end_ms, check=False, load=True)
        assert bars is not None
        spans = covered_spans(bars.get_column("ts"), key.timeframe)
        if span is None:
            state.coverage = list(spans)
        return spans

    def _delete_sync(self, key: SeriesKey, span: TimeSpan) -> int:
        layout = SeriesLayout(self._root, key)
        tx = Transaction(layout)
        inside = (pl.col("ts") >= span.start) & (pl.col("ts") < span.end)
        removed = 0
        staged: list[Staged] = []
        gone: list[Path] = []
        try:
            for month in layout.months():
                if not month.overlaps(span):
                    continue
                target = layout.file(month)
                if month.within(span):
                    removed += _row_count(target)
                    tx.remove(target)
                    gone.append(target)
                    continue
                existing = self._load(target, keep=False)
                if existing is None:
                    continue
                kept = existing.filter(~inside)
                if kept.height == existing.height:
                    continue
                removed += existing.height - kept.height
                if kept.is_empty():
                    tx.remove(target)
                    gone.append(target)
                else:
                    tx.stage(target, kept)
                    staged.append(Staged(target, kept))
            if not tx.is_empty:
                tx.commit()
                self._cache.committed(key, staged, gone)
        except BaseException:
            tx.abort()
            raise
        _prune_empty_dirs(layout)
        return removed

    # -- the cache --------------------------------------------------------------------------

    def _valid_state(self, key: SeriesKey) -> SeriesState | None:
        """The cached summary of ``key`` if no change became visible since (on the loop)."""
        state = self._cache.state(key)
        if state is None or state.view is None or state.view.read() != state.token:
            return None
        return state

    def _cached_bars(
        self, state: SeriesState, start_ms: int, end_ms: int, *, check: bool, load: bool = False
    ) -> pl.DataFrame | None:
        """Bars in [start_ms, end_ms) from cached month files, as zero-copy slices.

        ``check``: stat each file and give up (None) when one changed or is not cached;
        ``load``: read the files that are not cached (the series lock is held).
        """
        cache = self._cache
        found: list[Partition | None] = []
        for i in state.overlapping(start_ms, end_ms):
            path, stamp = state.files[i], state.stamps[i]
            if check:
                try:
                    if FileStamp.of(path) != stamp:
                        return None
                except OSError:
                    return None
            partition = cache.get(path, stamp)
            if partition is None and not load:
                return None
            found.append(partition)
        if any(p is None for p in found):
            first = state.overlapping(start_ms, end_ms).start
            missing = [first + n for n, p in enumerate(found) if p is None]
            for i, partition in zip(missing, self._fetch(state, missing), strict=True):
                found[i - first] = partition
        parts = [p.slice(start_ms, end_ms) for p in found if p is not None]
        if not parts:
            return _EMPTY.clear()
        if len(parts) == 1:
            return parts[0]
        return pl.concat(parts, how="vertical", rechunk=False)

    def _fetch(self, state: SeriesState, indexes: list[int]) -> list[Partition]:
        """Decode the month files ``indexes`` of ``state`` and cache them.

        One multi-file scan (polars reads the files in parallel) when its result holds one
        chunk per file, each exactly its month: then every cached month owns its buffers and
        the cache's byte count is true. Otherwise, file by file on a few threads.
        """
        cache = self._cache
        files = [state.files[i] for i in indexes]
        if len(files) > 1:
            frame = _canonical(_scan(files).collect(), files[0].parent)
            months = [state.months[i] for i in indexes]
            split = split_by_month(frame)
            if frame.n_chunks() == len(files) and [m for m, _ in split] == months:
                return [
                    cache.put(state.files[i], state.stamps[i], part)
                    for i, (_, part) in zip(indexes, split, strict=True)
                ]

        def fetch(i: int) -> Partition:
            path = state.files[i]
            return cache.put(path, state.stamps[i], _read_file(path))

        return self._map(fetch, indexes)

    def _state_sync(self, key: SeriesKey, layout: SeriesLayout) -> SeriesState:
        """The series as it is now; remembered only when read under the series lock."""
        cache = self._cache
        holding = getattr(self._holding, "lock", False)
        token = read_token(layout.lock_file)
        if holding and token is not None and len(token) < TOKEN_BYTES:
            bump(layout.lock_file)  # a series written before tokens existed: give it one
            token = read_token(layout.lock_file)
        months = tuple(layout.months())
        files = tuple(layout.file(m) for m in months)
        stamps = []
        for path in files:
            stamp = FileStamp.of(path)
            if stamp is None:
                raise StorageError(f"{path} vanished while its series was locked")
            stamps.append(stamp)
        old = cache.state(key)
        if old is not None and old.token == token and old.same_files(months, tuple(stamps)):
            return old
        view = cache.series_view(layout.lock_file) if holding else None
        state = SeriesState(token or b"", view, months, files, tuple(stamps))
        if view is not None and token is not None and view.read() == token:
            cache.set_state(key, state)
        return state

    def _load(self, path: Path, *, keep: bool) -> pl.DataFrame | None:
        """The month file at ``path`` (None when absent), from the cache when it holds it."""
        stamp = FileStamp.of(path)
        if stamp is None:
            return None
        partition = self._cache.get(path, stamp)
        if partition is not None:
            return partition.frame
        frame = _read_file(path)
        if keep:
            self._cache.put(path, stamp, frame)
        return frame

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

    def _known_keys_sync(self) -> tuple[tuple[TokenView, bytes] | None, list[SeriesKey]]:
        """The dataset's generation token (read first, when the cache can use it) and every
        series in it."""
        catalog = None
        view = self._cache.catalog_view(catalog_token(self._root))
        token = view.read() if view is not None else None
        if view is not None and token is not None:
            catalog = (view, token)
        keys = sorted({*series_keys(self._root), *journal_keys(self._root)}, key=_sort_key)
        return catalog, keys

    def _with_series(self, key: SeriesKey, creates: bool, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn`` holding the series' lock file, after finishing any interrupted change.

        Reading or deleting a series nobody ever wrote takes (and creates) no lock file.
        """
        layout = SeriesLayout(self._root, key)
        if not creates and not layout.series_dir.exists() and not layout.journal.exists():
            return fn(*args)
        with series_lock(layout):
            self._holding.lock = True
            try:
                if key not in self._recovered or key in self._dirty or layout.journal.exists():
                    recover(layout)
                    self._recovered.add(key)
                    self._dirty.discard(key)
                return fn(*args)
            except BaseException:
                self._dirty.add(key)
                self._cache.forget(key, layout.series_dir)
                raise
            finally:
                self._holding.lock = False

    # -- plumbing ---------------------------------------------------------------------------

    def _map(self, fn: Callable[[Item], T], items: Sequence[Item]) -> list[T]:
        """Run ``fn`` over ``items`` on a few threads; wait for all, then raise the first error."""
        if len(items) <= 1 or self._workers <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(self._workers, thread_name_prefix="arbx-parquet") as pool:
            futures: list[Future[T]] = [pool.submit(fn, item) for item in items]
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
