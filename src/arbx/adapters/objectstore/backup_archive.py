"""Backups in an S3-compatible bucket: ``s3://bucket/prefix``.

Object storage has no rename: the files are put under the prefix and ``manifest.json`` LAST,
and a backup without a manifest is not a backup (``open`` refuses it), so a backup becomes
visible only once complete; ``abort`` deletes what was put. ``create`` refuses a prefix that
holds any object. Credentials, region and endpoint come from the AWS_* variables.
"""

from __future__ import annotations

from typing import Any

import obstore

from arbx.adapters.files.backup_directory import DirectoryBackupArchives
from arbx.adapters.objectstore.connect import S3Options, s3_store, translate
from arbx.domain.errors import InvalidInput
from arbx.ports.backup_archive import BackupArchives, BackupReader, BackupWriter

MANIFEST = "manifest.json"


def _split(location: str) -> tuple[str, str]:
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    if not bucket:
        raise InvalidInput(f"{location} names no bucket; write s3://BUCKET/PREFIX")
    return bucket, prefix.strip("/")


def _check(name: str) -> str:
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidInput(f"backup file name {name!r} is not a plain relative path")
    return name


async def _names(store: Any, prefix: str) -> list[str]:
    found: list[str] = []
    try:
        async for batch in obstore.list(store, prefix=prefix or None):
            found.extend(o["path"] for o in batch)
    except Exception as exc:
        raise translate(exc, f"list {prefix or 'the bucket'}", store, named=True) from exc
    return found


class ObjectBackupWriter(BackupWriter):
    def __init__(self, store: Any, prefix: str) -> None:
        self._store = store
        self._prefix = prefix
        self._put: list[str] = []
        self._manifest: bytes | None = None

    def _path(self, name: str) -> str:
        return f"{self._prefix}/{_check(name)}" if self._prefix else _check(name)

    async def put(self, name: str, data: bytes) -> None:
        if name == MANIFEST:  # written last, by commit
            self._manifest = data
            return
        path = self._path(name)
        try:
            await obstore.put_async(self._store, path, data, mode="create")
        except Exception as exc:
            raise translate(exc, f"write {path}", self._store, named=True) from exc
        self._put.append(path)

    async def commit(self) -> None:
        if self._manifest is None:
            raise InvalidInput("a backup cannot be committed without its manifest")
        path = self._path(MANIFEST)
        try:
            await obstore.put_async(self._store, path, self._manifest, mode="create")
        except Exception as exc:
            await self.abort()
            raise translate(exc, f"write {path}", self._store, named=True) from exc

    async def abort(self) -> None:
        for path in self._put:
            try:
                await obstore.delete_async(self._store, path)
            except Exception:  # best effort: without a manifest nothing here is a backup
                continue


class ObjectBackupReader(BackupReader):
    def __init__(self, store: Any, prefix: str, location: str) -> None:
        self._store = store
        self._prefix = prefix
        self._location = location

    async def names(self) -> list[str]:
        cut = len(self._prefix) + 1 if self._prefix else 0
        return sorted(path[cut:] for path in await _names(self._store, self._prefix))

    async def get(self, name: str) -> bytes:
        path = f"{self._prefix}/{_check(name)}" if self._prefix else _check(name)
        try:
            result = await obstore.get_async(self._store, path)
            return bytes(await result.bytes_async())
        except (FileNotFoundError, obstore.exceptions.NotFoundError):
            raise InvalidInput(f"the backup in {self._location} lacks {name}") from None
        except Exception as exc:
            raise translate(exc, f"read {path}", self._store, named=True) from exc


class LocationBackupArchives(BackupArchives):
    """Backups in a directory, or at an ``s3://`` URL (``store_for(bucket)`` builds the
    client; by default from ``options`` over the AWS_* variables)."""

    def __init__(self, store_for: Any = None, options: S3Options | None = None) -> None:
        self._directories = DirectoryBackupArchives()
        self._store_for = store_for or (lambda bucket: s3_store(bucket, options))

    async def create(self, location: str) -> BackupWriter:
        if not location.startswith("s3://"):
            return await self._directories.create(location)
        bucket, prefix = _split(location)
        store = self._store_for(bucket)
        if await _names(store, prefix):
            raise InvalidInput(f"{location} holds objects already; back up to a new prefix")
        return ObjectBackupWriter(store, prefix)

    async def open(self, location: str) -> BackupReader:
        if not location.startswith("s3://"):
            return await self._directories.open(location)
        bucket, prefix = _split(location)
        reader = ObjectBackupReader(self._store_for(bucket), prefix, location)
        if MANIFEST not in await reader.names():
            raise InvalidInput(f"{location} is not an arbx backup (it has no {MANIFEST})")
        return reader
