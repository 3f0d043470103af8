"""The backup archive port: where a backup's files are written and read back.

A backup is a set of named files (``users.jsonl``, ``bars/kraken/BTC-USDC/1m/2024.parquet``,
``manifest.json``): the app layer encodes and checks them, an adapter only stores bytes.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol


class BackupWriter(Protocol):
    """One backup being written. Nothing is visible at its location before ``commit``.

    - ``put`` stores one file (``name`` is a relative POSIX path of plain segments).
    - ``commit`` makes the whole backup appear at its location at once.
    - ``abort`` throws away what was put (after a failure); the location is left as it was.
    """

    @abstractmethod
    async def put(self, name: str, data: bytes) -> None: ...

    @abstractmethod
    async def commit(self) -> None: ...

    @abstractmethod
    async def abort(self) -> None: ...


class BackupReader(Protocol):
    """A committed backup: ``names`` lists its files (sorted), ``get`` returns one
    (``InvalidInput`` naming the file when it is missing or unreadable)."""

    @abstractmethod
    async def names(self) -> list[str]: ...

    @abstractmethod
    async def get(self, name: str) -> bytes: ...


class BackupArchives(Protocol):
    """Opens backups by location (a directory path).

    - ``create`` refuses (``InvalidInput``) a location that exists and is not an empty folder.
    - ``open`` refuses (``InvalidInput``) a location that holds no backup (no manifest).
    """

    @abstractmethod
    async def create(self, location: str) -> BackupWriter: ...

    @abstractmethod
    async def open(self, location: str) -> BackupReader: ...
