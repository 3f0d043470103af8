"""``Shared`` values for the executors on this machine.

Threads share memory: ``ValueShared`` holds the value itself. Processes get a
``FileShared``: the value is pickled once to a private temporary file and each worker
process loads it on its first ``get()`` and keeps it (the last few values, by token), so a
study's bars cross to a worker once, whatever the number of calls.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any, Generic, TypeVar

from arbx.ports.executor import Shared

T = TypeVar("T")
KEPT_PER_WORKER = 4

_loaded: OrderedDict[str, Any] = OrderedDict()
_lock = threading.Lock()


class ValueShared(Shared[T], Generic[T]):
    def __init__(self, value: T) -> None:
        self._value = value

    def get(self) -> T:
        return self._value


class FileShared(Shared[T], Generic[T]):
    """A token and the file holding the pickled value (what crosses to a worker)."""

    def __init__(self, token: str, path: str) -> None:
        self.token = token
        self.path = path

    def get(self) -> T:
        with _lock:
            if self.token in _loaded:
                _loaded.move_to_end(self.token)
                value: T = _loaded[self.token]
                return value
        with open(self.path, "rb") as file:
            value = pickle.load(file)
        with _lock:
            _loaded[self.token] = value
            while len(_loaded) > KEPT_PER_WORKER:
                _loaded.popitem(last=False)
        return value


class FileSharing:
    """Writes shared values to a private directory, removed on ``close``."""

    def __init__(self) -> None:
        self._dir: Path | None = None

    def share(self, value: T) -> FileShared[T]:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="arbx-shared-"))
        token = uuid.uuid4().hex
        path = self._dir / f"{token}.pickle"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            pickle.dump(value, file, protocol=pickle.HIGHEST_PROTOCOL)
        return FileShared(token, str(path))

    def release(self, shared: Shared[object]) -> None:
        if isinstance(shared, FileShared):
            Path(shared.path).unlink(missing_ok=True)
            with _lock:
                _loaded.pop(shared.token, None)

    def close(self) -> None:
        folder, self._dir = self._dir, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
