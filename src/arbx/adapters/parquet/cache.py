"""The read-side cache of a ParquetBarStore: decoded month files and per-series summaries.

What may be served from memory is decided by two checks, so that changes made by another
process (a CLI import while ``arbx serve`` runs) are seen on the next read:

- a **generation token** per series, and one for the whole dataset (the catalog), written
  by every change before its first visible file operation (``tokens.py``). A reader that
  finds the token it cached knows no change has become visible since; one that finds another
  token (or a torn mix of two, which never equals an old token) goes the slow way, under the
  series lock. Readers map the token files into memory (``TokenView``), so checking a token
  is a memory read, not a system call (each of which, on a busy server, may wait for the GIL).
- a **file stamp** (st_mtime_ns, st_size, st_ino) per month file, checked on every hit too,
  so a file replaced by anything else is not served from memory either.

Month files are kept in an LRU bounded by bytes (polars' ``estimated_size``); the series
summaries (token, months and their stamps, SeriesInfo, full coverage) are tiny.

The store always talks to a ``ReadCache``: a ``PartitionCache``, or, with the cache off
(``cache_bytes`` 0), an ``EmptyCache`` that keeps nothing, so that every lookup misses.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl

from arbx.adapters.parquet.layout import Month
from arbx.adapters.parquet.tokens import TokenView, bump
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.ports.bar_store import SeriesInfo


@dataclass(frozen=True, slots=True)
class FileStamp:
    """What identifies one version of a file: a replaced file gets a new inode."""

    mtime_ns: int
    size: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileStamp | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return cls(st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass(frozen=True, slots=True)
class Partition:
    """One decoded month file: the frame and its open times as int64 ms (for searching)."""

    frame: pl.DataFrame
    ts_ms: np.ndarray
    nbytes: int

    @classmethod
    def of(cls, frame: pl.DataFrame) -> Partition:
        frame = frame.rechunk()
        ts_ms = frame.get_column("ts").dt.epoch("ms").to_numpy()
        return cls(frame, ts_ms, int(frame.estimated_size()) + int(ts_ms.nbytes))

    def slice(self, start_ms: int, end_ms: int) -> pl.DataFrame:
        """The rows with ``start_ms <= ts < end_ms``: a zero-copy slice, never the cached
        frame object itself (a caller may change its own frame in place)."""
        lo = int(np.searchsorted(self.ts_ms, start_ms, side="left"))
        hi = int(np.searchsorted(self.ts_ms, end_ms, side="left"))
        return self.frame.slice(lo, hi - lo)


@dataclass(slots=True)
class SeriesState:
    """A series as seen under its lock at generation ``token``; summaries filled lazily."""

    token: bytes
    view: TokenView | None  # None: not read under the series lock (never remembered)
    months: tuple[Month, ...]
    files: tuple[Path, ...]
    stamps: tuple[FileStamp, ...]
    starts: list[int] = field(init=False)
    ends: list[int] = field(init=False)
    info: SeriesInfo | None = None
    coverage: list[TimeSpan] | None = None

    def __post_init__(self) -> None:
        self.starts = [m.start_ms for m in self.months]
        self.ends = [m.end_ms for m in self.months]

    def overlapping(self, start_ms: int, end_ms: int) -> range:
        """Indexes of the months that overlap [start_ms, end_ms)."""
        return range(bisect_right(self.ends, start_ms), bisect_left(self.starts, end_ms))

    def same_files(self, months: tuple[Month, ...], stamps: tuple[FileStamp, ...]) -> bool:
        return self.months == months and self.stamps == stamps


class ReadCache(Protocol):
    """What a ParquetBarStore keeps between reads; every method is safe from any thread.

    Nothing it returns is needed for correctness: a miss (None) sends the store to the files.
    """

    @property
    def nbytes(self) -> int: ...
    def __len__(self) -> int: ...
    def get(self, path: Path, stamp: FileStamp) -> Partition | None: ...
    def put(self, path: Path, stamp: FileStamp, frame: pl.DataFrame) -> Partition: ...
    def state(self, key: SeriesKey) -> SeriesState | None: ...
    def set_state(self, key: SeriesKey, state: SeriesState) -> None: ...
    def forget(self, key: SeriesKey, series_dir: Path) -> None: ...
    def committed(self, key: SeriesKey, staged: Sequence[Staged], gone: Sequence[Path]) -> None: ...
    def series_view(self, lock_file: Path) -> TokenView | None: ...
    def catalog_view(self, path: Path) -> TokenView | None: ...
    def catalog(self) -> list[SeriesInfo] | None: ...
    def set_catalog(self, view: TokenView, token: bytes, infos: list[SeriesInfo]) -> None: ...


@dataclass(frozen=True, slots=True)
class Staged:
    """A month file a commit wrote, with its frame; ``borrowed``: the frame is a slice of the
    caller's (a cache must copy it, or it would keep the caller's whole frame alive)."""

    path: Path
    frame: pl.DataFrame
    borrowed: bool = False


def read_cache(max_bytes: int) -> ReadCache:
    """The read cache for ``cache_bytes``: bounded by that many bytes; 0: none at all."""
    if max_bytes < 0:
        raise InvalidInput(
            f"cache_bytes must be >= 0 (0 disables the cache), not {max_bytes}",
            field="cache_bytes",
        )
    return PartitionCache(max_bytes) if max_bytes else EmptyCache()


class PartitionCache(ReadCache):
    """Decoded month files keyed by path, valid for one file stamp; LRU, bounded by bytes.

    Thread-safe: the store's worker threads fill it, the event loop reads it.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("cache_bytes must be >= 0 (0 disables the cache)")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Path, tuple[FileStamp, Partition]] = OrderedDict()
        self._bytes = 0
        self._states: dict[SeriesKey, SeriesState] = {}
        self._catalog: tuple[bytes, list[SeriesInfo]] | None = None
        self._catalog_view: TokenView | None = None
        self._guard = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    # -- month files --------------------------------------------------------------------------

    def get(self, path: Path, stamp: FileStamp) -> Partition | None:
        with self._guard:
            entry = self._entries.get(path)
            if entry is None or entry[0] != stamp:
                return None
            self._entries.move_to_end(path)
            return entry[1]

    def put(self, path: Path, stamp: FileStamp, frame: pl.DataFrame) -> Partition:
        partition = Partition.of(frame)
        with self._guard:
            self._drop(path)
            if partition.nbytes <= self.max_bytes:
                self._entries[path] = (stamp, partition)
                self._bytes += partition.nbytes
                while self._bytes > self.max_bytes:
                    oldest = next(iter(self._entries))
                    self._drop(oldest)
        return partition

    def discard(self, path: Path) -> None:
        with self._guard:
            self._drop(path)

    def _drop(self, path: Path) -> None:
        entry = self._entries.pop(path, None)
        if entry is not None:
            self._bytes -= entry[1].nbytes

    def committed(self, key: SeriesKey, staged: Sequence[Staged], gone: Sequence[Path]) -> None:
        """After a commit: keep the new month files, drop removed ones and the summary."""
        self.drop_state(key)
        for path in gone:
            self.discard(path)
        for item in staged:
            stamp = FileStamp.of(item.path)
            if stamp is None:
                self.discard(item.path)
            else:
                self.put(
                    item.path, stamp, _own_buffers(item.frame) if item.borrowed else item.frame
                )

    # -- series summaries -----------------------------------------------------------------------

    def state(self, key: SeriesKey) -> SeriesState | None:
        return self._states.get(key)

    def set_state(self, key: SeriesKey, state: SeriesState) -> None:
        with self._guard:
            self._states[key] = state

    def drop_state(self, key: SeriesKey) -> None:
        """Forget a series' summary (its month files stay, checked by their stamps)."""
        with self._guard:
            self._states.pop(key, None)
            self._catalog = None

    def forget(self, key: SeriesKey, series_dir: Path) -> None:
        """Drop everything held for one series (after a change or a failure)."""
        with self._guard:
            self._states.pop(key, None)
            self._catalog = None
            for path in [p for p in self._entries if p.is_relative_to(series_dir)]:
                self._drop(path)

    def series_view(self, lock_file: Path) -> TokenView | None:
        """A view of a series' token, to remember a summary read under the series lock."""
        return TokenView.open(lock_file)

    def catalog_view(self, path: Path) -> TokenView | None:
        """A view of the dataset's token; a dataset written before tokens existed gets one."""
        view = TokenView.open(path)
        if view is None and path.parent.is_dir():
            bump(path)
            view = TokenView.open(path)
        return view

    def catalog(self) -> list[SeriesInfo] | None:
        """The series listing, if no change became visible since it was made."""
        cached, view = self._catalog, self._catalog_view
        if cached is None or view is None or view.read() != cached[0]:
            return None
        return list(cached[1])

    def set_catalog(self, view: TokenView, token: bytes, infos: list[SeriesInfo]) -> None:
        """Remember ``infos``, listed after ``token`` was read from ``view``."""
        with self._guard:
            self._catalog_view = view
            self._catalog = (token, list(infos))


class EmptyCache(ReadCache):
    """The read cache turned off: it keeps nothing, so the store always reads the files."""

    @property
    def nbytes(self) -> int:
        return 0

    def __len__(self) -> int:
        return 0

    def get(self, path: Path, stamp: FileStamp) -> Partition | None:
        return None

    def put(self, path: Path, stamp: FileStamp, frame: pl.DataFrame) -> Partition:
        return Partition.of(frame)

    def state(self, key: SeriesKey) -> SeriesState | None:
        return None

    def set_state(self, key: SeriesKey, state: SeriesState) -> None:
        return None

    def forget(self, key: SeriesKey, series_dir: Path) -> None:
        return None

    def committed(self, key: SeriesKey, staged: Sequence[Staged], gone: Sequence[Path]) -> None:
        return None

    def series_view(self, lock_file: Path) -> TokenView | None:
        return None

    def catalog_view(self, path: Path) -> TokenView | None:
        return None

    def catalog(self) -> list[SeriesInfo] | None:
        return None

    def set_catalog(self, view: TokenView, token: bytes, infos: list[SeriesInfo]) -> None:
        return None


def _own_buffers(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy of ``frame`` in buffers of its own (a slice shares, and keeps alive, those of
    the frame it was cut from, which the cache's byte count would not see)."""
    return frame[np.arange(frame.height)]
