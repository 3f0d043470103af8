"""Backups in a local directory: written into a hidden sibling folder, renamed into place on
commit (a crash leaves no half backup under the target's name), files readable by their owner
only (a backup holds password and key hashes)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path, PurePosixPath

from arbx.domain.errors import InvalidInput, StorageError
from arbx.ports.backup_archive import BackupArchives, BackupReader, BackupWriter

MANIFEST = "manifest.json"


def _relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or any(part in ("", ".", "..") for part in path.parts):
        raise InvalidInput(f"backup file name {name!r} is not a plain relative path")
    return path


def _local(location: str) -> Path:
    if "://" in location:
        scheme = location.split("://", 1)[0]
        raise InvalidInput(
            f"backups at {scheme}:// URLs are not supported; give a local directory",
            field="location",
        )
    return Path(location).expanduser()


class DirectoryBackupWriter(BackupWriter):
    def __init__(self, target: Path) -> None:
        self._target = target
        self._staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:12]}"
        self._staging.mkdir(mode=0o700, parents=True)

    def _put(self, name: str, data: bytes) -> None:
        path = self._staging.joinpath(*_relative(name).parts)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())

    async def put(self, name: str, data: bytes) -> None:
        try:
            await asyncio.to_thread(self._put, name, data)
        except FileExistsError:
            raise InvalidInput(f"backup file {name} was written twice") from None
        except OSError as exc:
            raise StorageError(f"cannot write backup file {name}: {exc.strerror}") from exc

    def _commit(self) -> None:
        if self._target.is_dir() and not any(self._target.iterdir()):
            self._target.rmdir()
        os.rename(self._staging, self._target)

    async def commit(self) -> None:
        try:
            await asyncio.to_thread(self._commit)
        except OSError as exc:
            await self.abort()
            raise StorageError(f"cannot move the backup into {self._target}: {exc}") from exc

    async def abort(self) -> None:
        await asyncio.to_thread(shutil.rmtree, self._staging, True)


class DirectoryBackupReader(BackupReader):
    def __init__(self, root: Path) -> None:
        self._root = root

    def _names(self) -> list[str]:
        return sorted(
            p.relative_to(self._root).as_posix() for p in self._root.rglob("*") if p.is_file()
        )

    async def names(self) -> list[str]:
        return await asyncio.to_thread(self._names)

    async def get(self, name: str) -> bytes:
        path = self._root.joinpath(*_relative(name).parts)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise InvalidInput(f"the backup in {self._root} lacks {name}") from None
        except OSError as exc:
            raise InvalidInput(f"cannot read {name} of the backup in {self._root}: {exc}") from exc


class DirectoryBackupArchives(BackupArchives):
    async def create(self, location: str) -> BackupWriter:
        target = _local(location)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise InvalidInput(
                f"{target} exists and is not an empty directory; back up into a new one",
                field="location",
            )
        try:
            return await asyncio.to_thread(DirectoryBackupWriter, target)
        except OSError as exc:
            raise StorageError(f"cannot create the backup in {target}: {exc}") from exc

    async def open(self, location: str) -> BackupReader:
        root = _local(location)
        if not (root / MANIFEST).is_file():
            raise InvalidInput(
                f"{root} is not an arbx backup (it has no {MANIFEST})", field="location"
            )
        return DirectoryBackupReader(root)
