"""The read-side cache of a ParquetBarStore: decoded month files and per-series summaries.

What may be served from memory is decided by two checks, so that changes made by another
process (a CLI import while ``arbx serve`` runs) are seen on the next read:

- a **generation token** per series, and one for the whole dataset (the catalog): 16 random
  bytes written in place into a small file by every change, under the series lock, *before*
  the change's first visible file operation (see ``bump``). A reader that finds the token it
  cached knows no change has become visible since; one that finds another token (or a torn
  mix of two, which never equals an old token) goes the slow way, under the series lock.
  The token files need no fsync: the cache lives only as long as its process. Readers map
  them into memory (``TokenView``), so checking a token is a memory read, not a system call
  (each of which, on a busy server, may wait for the GIL).
- a **file stamp** (st_mtime_ns, st_size, st_ino) per month file, checked on every hit too,
  so a file replaced by anything else is not served from memory either.

Month files are kept in an LRU bounded by bytes (polars' ``estimated_size``); the series
summaries (token, months and their stamps, SeriesInfo, full coverage) are tiny.
"""

from __future__ import annotations

import mmap
import os
import threading
import time
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from arbx.adapters.parquet.layout import Month
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.ports.bar_store import SeriesInfo

TOKEN_BYTES = 16
REOPEN_S = 0.5  # how often a TokenView checks that its path still names the mapped file


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


def read_token(path: Path) -> bytes | None:
    """The generation token in ``path``; None when the file does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return os.pread(fd, TOKEN_BYTES, 0)
    finally:
        os.close(fd)


def bump(path: Path) -> None:
    """Write a fresh token into ``path`` (created when missing; its folder must exist).

    One small ``pwrite`` at offset 0: a reader racing with it sees the old token (the change
    is not visible yet either), the new one, or a mix that matches no cached token.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, os.urandom(TOKEN_BYTES), 0)
    finally:
        os.close(fd)


class TokenView:
    """A token file mapped read-only and shared: it shows every later ``bump`` at once.

    Token files are only ever written by ``bump`` (never truncated, which would make reading
    the mapping fault). A folder deleted and made again under a running process is noticed
    within ``REOPEN_S``: the view then reports no token, and the caller goes the slow way.
    """

    __slots__ = ("_checked", "_inode", "_map", "_path")

    def __init__(self, path: Path, inode: int, mapping: mmap.mmap) -> None:
        self._path = path
        self._inode = inode
        self._map = mapping
        self._checked = time.monotonic()

    @classmethod
    def open(cls, path: Path) -> TokenView | None:
        """A view of ``path``; None when it is missing or holds no token yet."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            st = os.fstat(fd)
            if st.st_size < TOKEN_BYTES:
                return None
            mapping = mmap.mmap(fd, TOKEN_BYTES, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)
        return cls(path, st.st_ino, mapping)

    def read(self) -> bytes | None:
        now = time.monotonic()
        if now - self._checked > REOPEN_S:
            try:
                if os.stat(self._path).st_ino != self._inode:
                    return None
            except OSError:
                return None
            self._checked = now
        return self._map[:TOKEN_BYTES]


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


class PartitionCache:
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
