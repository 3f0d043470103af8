"""One ``arbx serve`` per data dir: an exclusive ``flock`` on ``<data_dir>/serve.lock``.

Two servers on one local store would both run the scheduler and fire every job twice; the
second one refuses to start, naming the process that holds the lock. The kernel releases the
lock when the holder exits, however it exits, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from arbx.domain.errors import Conflict

LOCK_NAME = "serve.lock"


class DataDirLock:
    """Hold the data dir's serve lock while in the ``with`` block (``Conflict`` when another
    process holds it)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> DataDirLock:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise Conflict(
                f"another arbx serve (pid {holder}) is serving data dir {self.path.parent};"
                " stop it first, or serve another data dir with --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
