"""Back up everything arbx keeps, check a backup, restore one into an empty store.

``CreateBackup`` dumps every section (see ``sections.py``) into a new backup and writes the
manifest last; the backup appears at its location only when complete (``BackupWriter.commit``).
Before the first section is dumped and after the last one it takes every section's
``state()`` (counts, series spans and row counts): when a writer changed any of them meanwhile
the backup is thrown away (``Conflict``), so a committed backup is one snapshot (an upsert
that rewrites values in place without changing a series' rows or span is not detected).

``VerifyBackup`` checks the manifest's format version, that the files are exactly those listed,
and each file's size, SHA-256 and record count.

``RestoreBackup`` verifies the whole backup first (a mismatch restores nothing), then refuses a
store holding anything (``Conflict``, naming the sections), then restores section by section.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from arbx.app.backup.format import (
    MANIFEST,
    FileEntry,
    Manifest,
    SectionEntry,
    count_records,
    decode_manifest,
    sha256,
)
from arbx.app.backup.sections import BackupSection
from arbx.domain.errors import Conflict, InvalidInput
from arbx.ports.backup_archive import BackupArchives, BackupReader
from arbx.ports.clock import Clock


class BackupReport(msgspec.Struct, frozen=True, kw_only=True):
    location: str
    manifest: Manifest


class RestoreReport(msgspec.Struct, frozen=True, kw_only=True):
    location: str
    manifest: Manifest
    restored: dict[str, int]  # records written per section


def _check_sections(sections: Sequence[BackupSection]) -> None:
    names = [s.name for s in sections]
    if len(set(names)) != len(names):
        raise ValueError(f"backup sections share a name: {names}")


class CreateBackup:
    def __init__(
        self,
        sections: Sequence[BackupSection],
        archives: BackupArchives,
        clock: Clock,
        *,
        version: str,
        profile: str,
    ) -> None:
        _check_sections(sections)
        self._sections = list(sections)
        self._archives = archives
        self._clock = clock
        self._version = version
        self._profile = profile

    async def execute(self, location: str) -> BackupReport:
        writer = await self._archives.create(location)
        try:
            files: dict[str, FileEntry] = {}
            summary: dict[str, SectionEntry] = {}
            before = [await section.state() for section in self._sections]
            for section in self._sections:
                records = 0
                count = 0

                async def put(name: str, data: bytes, n: int, folder: str = section.name) -> None:
                    nonlocal records, count
                    path = f"{folder}/{name}"
                    await writer.put(path, data)
                    files[path] = FileEntry(sha256=sha256(data), bytes=len(data), records=n)
                    records += n
                    count += 1

                await section.dump(put)
                summary[section.name] = SectionEntry(records=records, files=count)
            for section, state in zip(self._sections, before, strict=True):
                if await section.state() != state:
                    raise Conflict(
                        f"the {section.name} changed while the backup was taken; back up again"
                        " when no job or backtest is writing (e.g. with the server stopped)"
                    )
            manifest = Manifest(
                arbx_version=self._version,
                created_at=self._clock.now(),
                profile=self._profile,
                sections=summary,
                files=files,
            )
            await writer.put(MANIFEST, msgspec.json.format(msgspec.json.encode(manifest)))
            await writer.commit()
        except BaseException:
            await writer.abort()
            raise
        return BackupReport(location=location, manifest=manifest)


async def verified(reader: BackupReader, location: str) -> Manifest:
    """The manifest of a backup whose every file matches it (else ``InvalidInput``)."""
    manifest = decode_manifest(await reader.get(MANIFEST))
    present = set(await reader.names()) - {MANIFEST}
    missing = sorted(set(manifest.files) - present)
    extra = sorted(present - set(manifest.files))
    if missing:
        raise InvalidInput(f"the backup in {location} lacks {len(missing)} file(s): {missing[:5]}")
    if extra:
        raise InvalidInput(
            f"the backup in {location} holds {len(extra)} file(s) its manifest does not list:"
            f" {extra[:5]}"
        )
    for name, entry in sorted(manifest.files.items()):
        data = await reader.get(name)
        if len(data) != entry.bytes or sha256(data) != entry.sha256:
            raise InvalidInput(
                f"checksum mismatch in {name} of the backup in {location}: the file is"
                " damaged or was changed; nothing was restored"
            )
        if count_records(name, data) != entry.records:
            raise InvalidInput(f"{name} of the backup in {location} holds another record count")
    for section, summary in manifest.sections.items():
        records = sum(e.records for n, e in manifest.files.items() if n.startswith(f"{section}/"))
        if records != summary.records:
            raise InvalidInput(f"the manifest of {location} miscounts section {section}")
    return manifest


class VerifyBackup:
    def __init__(self, archives: BackupArchives) -> None:
        self._archives = archives

    async def execute(self, location: str) -> Manifest:
        return await verified(await self._archives.open(location), location)


class RestoreBackup:
    def __init__(self, sections: Sequence[BackupSection], archives: BackupArchives) -> None:
        _check_sections(sections)
        self._sections = list(sections)
        self._archives = archives

    async def execute(self, location: str) -> RestoreReport:
        reader = await self._archives.open(location)
        manifest = await verified(reader, location)
        known = {s.name for s in self._sections}
        unknown = sorted(set(manifest.sections) - known)
        if unknown:
            raise InvalidInput(
                f"the backup holds sections this arbx does not know: {unknown}; restore it with"
                f" arbx {manifest.arbx_version} or newer"
            )
        taken = [s.name for s in self._sections if not await s.is_empty()]
        if taken:
            raise Conflict(
                f"the store is not empty (it holds {', '.join(taken)}); restore into an empty"
                " store: a new data dir (local profile) or a new database schema (server)"
            )
        restored: dict[str, int] = {}
        for section in self._sections:
            prefix = f"{section.name}/"
            names = sorted(n for n in manifest.files if n.startswith(prefix))

            async def get(name: str, prefix: str = prefix) -> bytes:
                data = await reader.get(prefix + name)  # checked again: it was read before
                if sha256(data) != manifest.files[prefix + name].sha256:
                    raise InvalidInput(f"{prefix + name} changed during the restore")
                return data

            restored[section.name] = await section.restore(
                [n.removeprefix(prefix) for n in names], get
            )
        return RestoreReport(location=location, manifest=manifest, restored=restored)
