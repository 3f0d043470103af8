"""Import, query (paging), list and export use cases on the memory store and real files."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from arbx.adapters.files.polars_table_files import PolarsTableFiles
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.quality_store import MemoryQualityStore
from arbx.app.import_bars import ImportBars, ImportCommand, LoadSamples, key_from_file_name
from arbx.app.query_bars import ExportBars, ListSeries, QueryBars
from arbx.domain.errors import InvalidInput
from arbx.domain.market import TimeSpan
from arbx.domain.quality import Rule
from arbx.ports.clock import Clock
from tests.builders import DEFAULT_START, key, make_bars

K = key("kraken:BTC/USDC:1m")


class FixedClock(Clock):
    def __init__(self, now: datetime = datetime(2030, 1, 1, tzinfo=UTC)) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def store() -> MemoryBarStore:
    return MemoryBarStore()


@pytest.fixture
def quality() -> MemoryQualityStore:
    return MemoryQualityStore()


@pytest.fixture
def importer(store: MemoryBarStore, quality: MemoryQualityStore) -> ImportBars:
    return ImportBars(PolarsTableFiles(), store, quality, FixedClock(), chunk_rows=40)


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


async def test_import_records_findings_and_score(
    tmp_path: Path, store: MemoryBarStore, quality: MemoryQualityStore, importer: ImportBars
) -> None:
    bars = make_bars(60)
    flat = bars.get_column("close")[20]
    stale = bars.with_columns(  # rows 20..29: O=H=L=C unchanged, zero volume
        *(
            pl.when(pl.int_range(pl.len()).is_between(20, 29))
            .then(flat)
            .otherwise(pl.col(c))
            .alias(c)
            for c in ("open", "high", "low", "close")
        ),
        pl.when(pl.int_range(pl.len()).is_between(20, 29))
        .then(0.0)
        .otherwise(pl.col("volume"))
        .alias("volume"),
    )
    report = await importer.execute(ImportCommand(path=write_csv(tmp_path / "s.csv", stale), key=K))
    assert report.rows_written == 60
    assert report.issues_by_rule.get(Rule.STALE_RUN) == 1
    assert report.issues_stored == sum(report.issues_by_severity.values()) >= 1
    assert report.quality_score is not None
    assert 0.0 < report.quality_score < 1.0
    stored = await quality.issues(K, TimeSpan.everything())
    assert [i.rule for i in stored if i.rule == Rule.STALE_RUN] == [Rule.STALE_RUN]
    clean = await importer.execute(ImportCommand(path=write_csv(tmp_path / "c.csv", bars), key=K))
    assert clean.issues_stored == 0  # the re-import's findings replace the span's old ones
    assert clean.quality_score == 1.0
    assert await quality.issues(K, TimeSpan.everything()) == []


async def test_import_rejects_bars_not_closed_by_the_clock(
    tmp_path: Path, store: MemoryBarStore, quality: MemoryQualityStore
) -> None:
    now = DEFAULT_START + timedelta(minutes=50, seconds=30)  # bar 50 is forming, 51.. future
    importer = ImportBars(PolarsTableFiles(), store, quality, FixedClock(now))
    shuffled = make_bars(55).reverse()  # file rows are the bars in reverse order
    report = await importer.execute(
        ImportCommand(path=write_csv(tmp_path / "x.csv", shuffled), key=K)
    )
    assert (report.rows_read, report.rows_accepted, report.rows_written) == (55, 50, 50)
    assert [(r.row, r.rule) for r in report.rejected] == [
        (0, Rule.TS_IN_FUTURE),
        (1, Rule.TS_IN_FUTURE),
        (2, Rule.TS_IN_FUTURE),
        (3, Rule.TS_IN_FUTURE),
        (4, Rule.BAR_NOT_CLOSED),
    ]
    stored = await store.read(K, TimeSpan.everything())
    assert stored.height == 50
    assert stored["ts"].max() == DEFAULT_START + timedelta(minutes=49)


async def test_import_of_only_unclosed_bars_writes_nothing(
    tmp_path: Path, store: MemoryBarStore, quality: MemoryQualityStore
) -> None:
    importer = ImportBars(PolarsTableFiles(), store, quality, FixedClock(DEFAULT_START))
    with pytest.raises(InvalidInput, match="no usable row"):
        await importer.execute(
            ImportCommand(path=write_csv(tmp_path / "x.csv", make_bars(5)), key=K)
        )
    assert await store.list_series() == []
    assert await quality.series() == []


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
    await ImportBars(PolarsTableFiles(), fresh, MemoryQualityStore(), FixedClock()).execute(
        ImportCommand(path=out, key=K)
    )
    assert (await fresh.read(K, TimeSpan.everything())).equals(bars)


async def test_export_of_nothing_is_an_error(tmp_path: Path, store: MemoryBarStore) -> None:
    with pytest.raises(InvalidInput, match="nothing to export"):
        await ExportBars(store, PolarsTableFiles()).execute(
            K, TimeSpan.everything(), tmp_path / "x.csv"
        )
    assert not (tmp_path / "x.csv").exists()


async def test_a_bar_before_1970_is_rejected_with_its_own_reason(
    tmp_path: Path, store: MemoryBarStore, importer: ImportBars
) -> None:
    path = tmp_path / "old.csv"
    path.write_text(
        "ts,open,high,low,close,volume\n"
        "0001-01-01T00:00:00Z,1,2,0.5,1.5,10\n"
        "0001-01-01T00:01:00Z,1,2,0.5,1.5,10\n"
    )
    with pytest.raises(InvalidInput, match="before 1970"):
        await importer.execute(ImportCommand(path=path, key=K))
    assert await store.list_series() == []


class ThreadRecordingFiles(PolarsTableFiles):
    """Real files, noting the thread each (blocking) call ran on."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def read(self, path: Path, *, skip_rows: int = 0, has_header: bool = True) -> pl.DataFrame:
        self.threads.append(threading.get_ident())
        return super().read(path, skip_rows=skip_rows, has_header=has_header)

    def write(self, frame: pl.DataFrame, path: Path) -> None:
        self.threads.append(threading.get_ident())
        super().write(frame, path)


async def test_file_io_runs_off_the_event_loop(tmp_path: Path, store: MemoryBarStore) -> None:
    files = ThreadRecordingFiles()
    source = tmp_path / "bars.csv"
    make_bars(50).write_csv(source)
    await ImportBars(files, store, clock=FixedClock()).execute(ImportCommand(path=source, key=K))
    await ExportBars(store, files).execute(K, TimeSpan.everything(), tmp_path / "out.parquet")
    loop_thread = threading.get_ident()
    assert len(files.threads) == 2
    assert loop_thread not in files.threads
