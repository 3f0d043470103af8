"""Backup use cases on in-memory stores: a store written to during the dump leaves no backup;
a backup with a section this arbx does not know is refused before anything is restored."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from arbx.adapters.files.backup_directory import DirectoryBackupArchives
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.trade_store import MemoryTradeStore
from arbx.app.backup import BackupSection, CreateBackup, RestoreBackup, VerifyBackup
from arbx.app.backup.sections import BarsSection, MarketFramesSection, Put
from arbx.domain.errors import Conflict, InvalidInput
from arbx.domain.market import SeriesKey, Symbol, TimeSpan
from arbx.domain.market.trades import Trade, TradeKey, trades_frame
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


# -- recorded trades (the same section keeps quotes and book updates) -------------------------

PAIR = TradeKey("kraken", Symbol.parse("BTC/USD"))
NEW_YEAR_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def _trades(ids: range) -> pl.DataFrame:
    return trades_frame(
        Trade(PAIR, f"t{i}", NEW_YEAR_US + (i - 2) * 1_000_001, 100.0 + i / 3, 0.5, "buy")
        for i in ids
    )


def _trade_section(trades: MemoryTradeStore) -> MarketFramesSection:
    return MarketFramesSection("trades", trades.keys, trades.read, trades.write)


class TradesWrittenDuringDump(MarketFramesSection):
    """A trade section whose store gets one more trade of a pair it holds (a live recorder)."""

    async def dump(self, put: Put) -> None:
        await super().dump(put)
        await self.write(PAIR, _trades(range(9, 10)))


def _create(sections: Sequence[BackupSection]) -> CreateBackup:
    return CreateBackup(
        sections,
        DirectoryBackupArchives(),
        FakeClock(datetime(2026, 1, 1, tzinfo=UTC)),
        version="test",
        profile="memory",
    )


async def test_trades_round_trip_per_pair_and_year(tmp_path: Path) -> None:
    trades = MemoryTradeStore()
    await trades.write(PAIR, _trades(range(5)))
    await _create([_trade_section(trades)]).execute(str(tmp_path / "backup"))
    manifest = await VerifyBackup(DirectoryBackupArchives()).execute(str(tmp_path / "backup"))
    assert {n: e.records for n, e in manifest.files.items()} == {
        "trades/kraken/BTC-USD/2025.parquet": 2,
        "trades/kraken/BTC-USD/2026.parquet": 3,
    }
    restored = MemoryTradeStore()
    restore = RestoreBackup([_trade_section(restored)], DirectoryBackupArchives())
    assert (await restore.execute(str(tmp_path / "backup"))).restored == {"trades": 5}
    everything = TimeSpan.everything()
    assert (await restored.read(PAIR, everything)).equals(await trades.read(PAIR, everything))
    # a store holding trades is refused, and keeps what it holds
    with pytest.raises(Conflict, match="it holds trades"):
        await restore.execute(str(tmp_path / "backup"))
    assert (await restored.read(PAIR, everything)).height == 5


async def test_a_trade_recorded_during_the_dump_leaves_no_backup(tmp_path: Path) -> None:
    trades = MemoryTradeStore()
    await trades.write(PAIR, _trades(range(5)))
    section = TradesWrittenDuringDump("trades", trades.keys, trades.read, trades.write)
    with pytest.raises(Conflict, match="the trades changed while the backup was taken"):
        await _create([section]).execute(str(tmp_path / "backup"))
    assert list(tmp_path.iterdir()) == []


async def test_a_trade_file_outside_a_pair_folder_restores_nothing(tmp_path: Path) -> None:
    """Every file name of the section is checked before the first write."""
    trades = MemoryTradeStore()
    await trades.write(PAIR, _trades(range(5)))
    await _create([_trade_section(trades)]).execute(str(tmp_path / "backup"))
    backup = tmp_path / "backup"
    (backup / "trades" / "stray").mkdir()
    (backup / "trades" / "kraken" / "BTC-USD" / "2026.parquet").rename(
        backup / "trades" / "stray" / "2026.parquet"
    )
    path = backup / "manifest.json"
    head = json.loads(path.read_text())
    head["files"]["trades/stray/2026.parquet"] = head["files"].pop(
        "trades/kraken/BTC-USD/2026.parquet"
    )
    path.write_text(json.dumps(head))
    empty = MemoryTradeStore()
    with pytest.raises(InvalidInput, match="is not VENUE/BASE-QUOTE/YEAR.parquet"):
        await RestoreBackup([_trade_section(empty)], DirectoryBackupArchives()).execute(str(backup))
    assert await empty.keys() == []
