"""Import, query (paging), list and export use cases on the memory store and real files."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from arbx.adapters.files.polars_table_files import PolarsTableFiles
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.app.import_bars import ImportBars, ImportCommand, LoadSamples, key_from_file_name
from arbx.app.query_bars import ExportBars, ListSeries, QueryBars
from arbx.domain.errors import InvalidInput
from arbx.domain.market import TimeSpan
from tests.builders import key, make_bars

K = key("kraken:BTC/USDC:1m")


@pytest.fixture
def store() -> MemoryBarStore:
    return MemoryBarStore()


@pytest.fixture
def importer(store: MemoryBarStore) -> ImportBars:
    return ImportBars(PolarsTableFiles(), store, chunk_rows=40)


def write_csv(path: Path, bars: pl.DataFrame) -> Path:
    bars.rename({"ts": "timestamp"}).with_columns(pl.col("timestamp").dt.epoch("ms")).write_csv(
        path
    )
    return path


async def test_import_stores_valid_rows_and_reports_bad_ones(
    tmp_path: Path, store: MemoryBarStore, importer: ImportBars
) -> None:
    bars = make_bars(100)
    broken = bars.with_columns(
        pl.when(pl.int_range(pl.len()) == 10).then(-1.0).otherwise(pl.col("low")).alias("low")
    )
    path = write_csv(tmp_path / "x.csv", broken)
    seen: list[tuple[int, int]] = []
    report = await importer.execute(
        ImportCommand(path=path, key=K), progress=lambda d, t: seen.append((d, t))
    )
    assert (report.rows_read, report.rows_accepted, report.rows_written) == (100, 99, 99)
    assert [(r.row, r.column) for r in report.rejected] == [(10, "low")]
    stored = await store.read(K, TimeSpan.everything())
    assert stored.equals(bars.filter(pl.int_range(pl.len()) != 10))
    assert seen == [(40, 99), (80, 99), (99, 99)]


async def test_reimport_is_idempotent(tmp_path: Path, importer: ImportBars) -> None:
    path = write_csv(tmp_path / "x.csv", make_bars(30))
    first = await importer.execute(ImportCommand(path=path, key=K))
    again = await importer.execute(ImportCommand(path=path, key=K))
    assert (first.rows_written, again.rows_written) == (30, 0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("timestamp,open,high,low,close\n0,1,1,1,1\n", "no column for volume"),
        ("timestamp,open,high,low,close,volume\nx,1,1,1,1,1\n", "does not parse"),
        ("timestamp,open,high,low,close,volume\n0,1,1,2,1,1\n", "no usable row"),
    ],
)
async def test_unusable_file_writes_nothing(
    tmp_path: Path, store: MemoryBarStore, importer: ImportBars, content: str, message: str
) -> None:
    await store.write(K, make_bars(5))
    before = await store.read(K, TimeSpan.everything())
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=message):
        await importer.execute(ImportCommand(path=path, key=K))
    assert (await store.read(K, TimeSpan.everything())).equals(before)


async def test_missing_and_unknown_files_are_clear_errors(
    tmp_path: Path, importer: ImportBars
) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        await importer.execute(ImportCommand(path=tmp_path / "none.csv", key=K))
    with pytest.raises(InvalidInput, match="cannot tell the format"):
        await importer.execute(ImportCommand(path=tmp_path / "x.xlsx", key=K))
    garbage = tmp_path / "g.parquet"
    garbage.write_bytes(b"not parquet")
    with pytest.raises(InvalidInput, match="cannot read g.parquet"):
        await importer.execute(ImportCommand(path=garbage, key=K))


def test_key_from_file_name() -> None:
    assert str(key_from_file_name(Path("kraken_BTC-USDC_1m.csv"))) == "kraken:BTC/USDC:1m"
    with pytest.raises(InvalidInput, match="EXCHANGE_BASE-QUOTE_TIMEFRAME"):
        key_from_file_name(Path("btc.csv"))


async def test_load_samples_only_when_empty(
    tmp_path: Path, store: MemoryBarStore, importer: ImportBars
) -> None:
    write_csv(tmp_path / "kraken_BTC-USD_1m.csv", make_bars(20))
    write_csv(tmp_path / "binanceus_BTC-USDC_1m.csv", make_bars(10))
    loader = LoadSamples(importer, store)
    reports = await loader.execute(tmp_path, only_if_empty=True)
    assert sorted(str(r.key) for r in reports) == ["binanceus:BTC/USDC:1m", "kraken:BTC/USD:1m"]
    assert await loader.execute(tmp_path, only_if_empty=True) == []
    assert len(await ListSeries(store).execute()) == 2


async def test_paging_walks_the_whole_range_without_overlap(store: MemoryBarStore) -> None:
    bars = make_bars(250)
    sparse = bars.filter(pl.int_range(pl.len()) % 7 != 3)  # holes on the grid
    await store.write(K, sparse)
    query = QueryBars(store, max_limit=40)
    span = TimeSpan.everything()
    pages, cursor_start = [], span.start
    while True:
        page = await query.page(K, TimeSpan(cursor_start, span.end), limit=40)
        pages.append(page.bars)
        if page.next_start is None:
            break
        cursor_start = TimeSpan.from_ms(page.next_start, page.next_start + 1).start
    assert all(p.height <= 40 for p in pages)
    assert pl.concat(pages).equals(sparse)


async def test_paging_rejects_limits_out_of_range(store: MemoryBarStore) -> None:
    query = QueryBars(store, max_limit=10)
    for limit in (0, 11):
        with pytest.raises(InvalidInput, match="limit"):
            await query.page(K, TimeSpan.everything(), limit=limit)


@pytest.mark.parametrize("suffix", ["csv", "parquet", "json", "arrow"])
async def test_export_round_trips(
    tmp_path: Path, store: MemoryBarStore, importer: ImportBars, suffix: str
) -> None:
    bars = make_bars(60)
    await store.write(K, bars)
    out = tmp_path / f"kraken_BTC-USDC_1m.{suffix}"
    assert await ExportBars(store, PolarsTableFiles()).execute(K, TimeSpan.everything(), out) == 60
    fresh = MemoryBarStore()
    await ImportBars(PolarsTableFiles(), fresh).execute(ImportCommand(path=out, key=K))
    assert (await fresh.read(K, TimeSpan.everything())).equals(bars)


async def test_export_of_nothing_is_an_error(tmp_path: Path, store: MemoryBarStore) -> None:
    with pytest.raises(InvalidInput, match="nothing to export"):
        await ExportBars(store, PolarsTableFiles()).execute(
            K, TimeSpan.everything(), tmp_path / "x.csv"
        )
    assert not (tmp_path / "x.csv").exists()
