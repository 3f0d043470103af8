"""``Shared`` values for the executors on this machine.

Threads share memory: ``ValueShared`` holds the value itself. Processes get a
``FileShared``: the value is pickled once (protocol 5) to a private file, in shared memory
(``/dev/shm``) where the machine has it; its large buffers (the numpy arrays of a study's
bars) are written out of band, aligned, after the pickle. Each worker process maps the file
on its first ``get()`` and unpickles with those buffers as views into the mapping: no copy
and no unpickling of the bars, whatever their size (the arrays are read-only there). It
keeps the value (the last few, by token), so a study's bars cross to a worker once, whatever
the number of calls; several workers share the same pages.

File layout (little-endian uint64s): the pickle's length and the number of buffers, then
(offset, size) of each buffer, the pickle, and each buffer at its 64-byte aligned offset.
"""

from __future__ import annotations

import mmap
import os
import pickle
import shutil
import struct
import tempfile
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar

from arbx.ports.executor import Shared

T = TypeVar("T")
KEPT_PER_WORKER = 4
ALIGN = 64
SHARED_MEMORY = Path("/dev/shm")

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
        value = _read(self.path)
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
            self._dir = Path(tempfile.mkdtemp(prefix="arbx-shared-", dir=_folder()))
        token = uuid.uuid4().hex
        path = self._dir / f"{token}.pickle"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            _write(file, value)
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


def _folder() -> str | None:
    """``/dev/shm`` when it is a writable directory (Linux), else the temporary folder."""
    if SHARED_MEMORY.is_dir() and os.access(SHARED_MEMORY, os.W_OK | os.X_OK):
        return str(SHARED_MEMORY)
    return None


def _write(file: BinaryIO, value: object) -> None:
    buffers: list[pickle.PickleBuffer] = []
    body = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    head = 16 + 16 * len(raws)
    at = head + len(body)
    places: list[tuple[int, int]] = []
    for raw in raws:
        at += -at % ALIGN
        places.append((at, raw.nbytes))
        at += raw.nbytes
    file.write(struct.pack("<QQ", len(body), len(raws)))
    for start, n in places:
        file.write(struct.pack("<QQ", start, n))
    file.write(body)
    at = head + len(body)
    for (start, _), raw in zip(places, raws, strict=True):
        file.write(b"\0" * (start - at))
        file.write(raw)
        at = start + raw.nbytes


def _read(path: str) -> Any:
    """The value of a shared file, its buffers views into a read-only mapping of it (the
    mapping lives as long as the arrays over it)."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size < 16:
            raise EOFError(f"shared value file {path} is truncated")
        mapped = mmap.mmap(file.fileno(), size, access=mmap.ACCESS_READ)
    view = memoryview(mapped)
    body_len, count = struct.unpack_from("<QQ", view, 0)
    places = [struct.unpack_from("<QQ", view, 16 + 16 * i) for i in range(count)]
    head = 16 + 16 * count
    buffers = [view[start : start + n] for start, n in places]
    return pickle.loads(view[head : head + body_len], buffers=buffers)
