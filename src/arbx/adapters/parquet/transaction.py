"""Atomic multi-file changes to a Parquet dataset: stage, commit record, apply, recover.

A write may replace several month files. Each new file is written to a hidden temporary file
in its final folder and fsynced (staging). Then:

- one change only: ``os.replace`` the file over its target and fsync the folder (a rename is
  atomic on POSIX, so no journal is needed);
- several changes: a commit record (the journal) listing every rename and removal is written to
  a temporary file, fsynced, and renamed into place (the commit point), then the renames and
  removals are applied, their folders fsynced, and the journal removed.

After a crash, ``recover`` rolls a present journal forward (applying a rename whose temporary
file is still there, removing a listed file still there) and deletes orphan temporary files of
a write that never reached its commit point. So the dataset always holds the old or the new
data of a write, whole, and never a torn file.

Before its first visible file operation, every commit (and every roll-forward) writes new
generation tokens for its series and for the dataset (``announce_change``), which tells the
read caches of every process that what they hold may be out of date (see ``tokens.py``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import polars as pl

from arbx.adapters.parquet.layout import TEMP_PREFIX, TEMP_SUFFIX, SeriesLayout
from arbx.adapters.parquet.tokens import bump
from arbx.domain.errors import StorageError

JOURNAL_FORMAT = 1
COMPRESSION: Final = "zstd"


class Transaction:
    """The file changes of one write or delete of one series (the series lock is held)."""

    def __init__(self, layout: SeriesLayout) -> None:
        self._layout = layout
        self._txid = uuid.uuid4().hex
        self._renames: list[tuple[Path, Path]] = []
        self._removals: list[Path] = []
        self._guard = threading.Lock()
        self._committed = False

    @property
    def is_empty(self) -> bool:
        return not self._renames and not self._removals

    def stage(self, target: Path, frame: pl.DataFrame) -> None:
        """Write ``frame`` durably next to ``target``; it replaces ``target`` on commit.

        Thread-safe: partitions are staged in parallel.
        """
        make_dirs(target.parent)
        temp = target.parent / f"{TEMP_PREFIX}{self._txid}{TEMP_SUFFIX}"
        with self._guard:
            self._renames.append((temp, target))
        frame.write_parquet(temp, compression=COMPRESSION, statistics=True)
        fsync_file(temp)

    def remove(self, target: Path) -> None:
        """Remove ``target`` on commit."""
        with self._guard:
            self._removals.append(target)

    def commit(self) -> None:
        """Make the staged changes visible, all of them or (on a crash) none of them."""
        announce_change(self._layout)
        if len(self._renames) + len(self._removals) == 1:
            for temp, target in self._renames:
                os.replace(temp, target)
            for target in self._removals:
                os.unlink(target)
            fsync_dir((self._renames[0][1] if self._renames else self._removals[0]).parent)
            return
        journal = self._layout.journal
        make_dirs(journal.parent)
        root = self._layout.root
        record = {
            "format": JOURNAL_FORMAT,
            "txid": self._txid,
            "renames": [[_rel(root, t), _rel(root, d)] for t, d in sorted(self._renames)],
            "removals": sorted(_rel(root, r) for r in self._removals),
        }
        pending = journal.parent / f".{journal.name}.{self._txid}{TEMP_SUFFIX}"
        with open(pending, "wb") as handle:
            handle.write(json.dumps(record).encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(pending, journal)
        self._committed = True
        fsync_dir(journal.parent)
        _apply(root, journal, record)

    def abort(self) -> None:
        """Best effort: delete staged files of a write that did not reach its commit point.

        Past the commit point the journal owns them: ``recover`` rolls the write forward.
        """
        if self._committed:
            return
        for temp, _ in self._renames:
            try:
                os.unlink(temp)
            except OSError:
                continue


def recover(layout: SeriesLayout) -> None:
    """Finish or undo an interrupted change of one series (idempotent)."""
    journal = layout.journal
    if journal.is_file():
        try:
            record = json.loads(journal.read_bytes())
        except ValueError as exc:
            raise StorageError(
                f"commit record {journal} is unreadable; inspect it before using the store"
            ) from exc
        if record.get("format") != JOURNAL_FORMAT:
            raise StorageError(f"commit record {journal} has an unknown format; upgrade arbx")
        announce_change(layout)
        _apply(layout.root, journal, record)
    if journal.parent.is_dir():
        stale = [
            p
            for p in journal.parent.iterdir()
            if p.name.startswith(f".{journal.name}.") and p.name.endswith(TEMP_SUFFIX)
        ]
        for path in stale:
            os.unlink(path)
    for temp in list(layout.temp_files()):
        os.unlink(temp)


@contextmanager
def series_lock(layout: SeriesLayout) -> Iterator[None]:
    """Hold the series' lock file exclusively: one writer per series across processes.

    ``flock`` locks are released by the kernel when a process dies, so a crash never leaves
    a series locked. Lock files are never deleted (that would let two holders coexist).
    """
    path = layout.lock_file
    make_dirs(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def announce_change(layout: SeriesLayout) -> None:
    """New generation tokens for the series and the dataset (the series lock is held)."""
    make_dirs(layout.lock_file.parent)
    bump(layout.lock_file)
    bump(layout.catalog_token)


def _apply(root: Path, journal: Path, record: dict[str, Any]) -> None:
    folders: set[Path] = set()
    for temp_rel, target_rel in record["renames"]:
        temp, target = root / temp_rel, root / target_rel
        if temp.exists():
            os.replace(temp, target)
        folders.add(target.parent)
    for target_rel in record["removals"]:
        target = root / target_rel
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
        folders.add(target.parent)
    for folder in sorted(folders):
        fsync_dir(folder)
    os.unlink(journal)
    fsync_dir(journal.parent)


def make_dirs(path: Path) -> None:
    """Create ``path`` and missing parents, fsyncing each parent that gained an entry."""
    missing = []
    current = path
    while not current.is_dir():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder)
        except FileExistsError:
            continue
        fsync_dir(folder.parent)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()
