"""Generation tokens: 16 random bytes in a small file, rewritten in place by every change.

A series has one (its lock file) and the dataset has one (the catalog token). Every commit
writes new tokens (``bump``) before its first visible file operation, so a reader that finds
the token it remembered knows that no change became visible since (see ``cache.py``). The
token files need no fsync: what trusts them lives only as long as its process.
"""

from __future__ import annotations

import mmap
import os
import time
from pathlib import Path

TOKEN_BYTES = 16
REOPEN_S = 0.5  # how often a TokenView checks that its path still names the mapped file


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
