"""Backup use cases on in-memory stores: a store written to during the dump leaves no backup;
a backup with a section this arbx does not know is refused before anything is restored."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from arbx.adapters.files.backup_directory import DirectoryBackupArchives
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.app.backup import CreateBackup, RestoreBackup, VerifyBackup
from arbx.app.backup.sections import BarsSection, Put
from arbx.domain.errors import Conflict, InvalidInput
from arbx.domain.market import SeriesKey
from tests.builders import make_bars
from tests.unit.auth.fakes import FakeClock

KEY = SeriesKey.of("kraken", "BTC/USDC", "1m")


class WrittenDuringDump(BarsSection):
    """A bar section whose store gets a new bar while it is dumped (a busy collector)."""

    async def dump(self, put: Put) -> None:
        await super().dump(put)
        await self.bars.write(KEY, make_bars(1, start=datetime(2025, 1, 1, tzinfo=UTC)))


async def _backup(bars: MemoryBarStore, location: Path) -> None:
    create = CreateBackup(
        [BarsSection(bars)],
        DirectoryBackupArchives(),
        FakeClock(datetime(2026, 1, 1, tzinfo=UTC)),
        version="test",
        profile="memory",
    )
    await create.execute(str(location))


async def test_a_store_changed_during_the_dump_leaves_no_backup(tmp_path: Path) -> None:
    bars = MemoryBarStore()
    await bars.write(KEY, make_bars(100))
    create = CreateBackup(
        [WrittenDuringDump(bars)],
        DirectoryBackupArchives(),
        FakeClock(datetime(2026, 1, 1, tzinfo=UTC)),
        version="test",
        profile="memory",
    )
    with pytest.raises(Conflict, match="changed while the backup was taken"):
        await create.execute(str(tmp_path / "backup"))
    assert list(tmp_path.iterdir()) == []  # neither the backup nor its staging folder


@dataclass(frozen=True)
class BarsWrittenLater(BarsSection):
    """A second section during whose dump the FIRST section's store (``other``) changes."""

    other: MemoryBarStore = field(default_factory=MemoryBarStore)

    async def dump(self, put: Put) -> None:
        await super().dump(put)
        await self.other.write(KEY, make_bars(1, start=datetime(2025, 1, 1, tzinfo=UTC)))


async def test_a_section_changed_while_a_later_one_is_dumped_leaves_no_backup(
    tmp_path: Path,
) -> None:
    bars, more = MemoryBarStore(), MemoryBarStore()
    await bars.write(KEY, make_bars(10))
    create = CreateBackup(
        [BarsSection(bars), BarsWrittenLater(more, name="more_bars", other=bars)],
        DirectoryBackupArchives(),
        FakeClock(datetime(2026, 1, 1, tzinfo=UTC)),
        version="test",
        profile="memory",
    )
    with pytest.raises(Conflict, match="the bars changed while the backup was taken"):
        await create.execute(str(tmp_path / "backup"))
    assert list(tmp_path.iterdir()) == []


async def test_bars_round_trip_and_unknown_sections_are_refused(tmp_path: Path) -> None:
    bars = MemoryBarStore()
    await bars.write(KEY, make_bars(3000, start=datetime(2024, 12, 31, 12, tzinfo=UTC)))
    await _backup(bars, tmp_path / "backup")
    manifest = await VerifyBackup(DirectoryBackupArchives()).execute(str(tmp_path / "backup"))
    assert sorted(manifest.files) == [
        "bars/kraken/BTC-USDC/1m/2024.parquet",
        "bars/kraken/BTC-USDC/1m/2025.parquet",
    ]
    assert manifest.sections["bars"].records == 3000

    restored = MemoryBarStore()
    restore = RestoreBackup([BarsSection(restored)], DirectoryBackupArchives())
    assert (await restore.execute(str(tmp_path / "backup"))).restored == {"bars": 3000}
    assert await restored.list_series() == await bars.list_series()

    # a section this arbx lacks (a newer arbx wrote it): refused, nothing restored
    path = tmp_path / "backup" / "manifest.json"
    head = json.loads(path.read_text())
    head["sections"]["studies"] = {"records": 0, "files": 0}
    path.write_text(json.dumps(head))
    empty = MemoryBarStore()
    with pytest.raises(InvalidInput, match="sections this arbx does not know: \\['studies'\\]"):
        await RestoreBackup([BarsSection(empty)], DirectoryBackupArchives()).execute(
            str(tmp_path / "backup")
        )
    assert await empty.list_series() == []


def test_sections_need_distinct_names() -> None:
    bars = MemoryBarStore()
    sections: Sequence[BarsSection] = [BarsSection(bars), BarsSection(bars)]
    with pytest.raises(ValueError, match="share a name"):
        RestoreBackup(sections, DirectoryBackupArchives())
