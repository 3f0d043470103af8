"""ImportTrades: a trade file into the trade store, then the bars of its complete intervals."""

from __future__ import annotations

import gzip
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from arbx.adapters.files.trade_files import LocalTradeFiles
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.adapters.memory.trade_store import MemoryTradeStore
from arbx.app.import_trades import ImportTrades, ImportTradesCommand
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, Symbol, Timeframe, TimeSpan
from arbx.domain.market.trade_files import TradeFormat
from arbx.domain.market.trades import TradeKey

KEY = TradeKey("kraken", Symbol.parse("BTC/USD"))
M1 = SeriesKey.parse("kraken:BTC/USD:1m")
EVERYTHING = TimeSpan.everything()
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "trades"


@pytest.fixture
def stores() -> tuple[MemoryTradeStore, MemoryBarStore]:
    return MemoryTradeStore(), MemoryBarStore()


def importer(stores: tuple[MemoryTradeStore, MemoryBarStore]) -> ImportTrades:
    return ImportTrades(LocalTradeFiles(), stores[0], stores[1])


def kraken_lines(*rows: tuple[int, float, float]) -> bytes:
    return "".join(f"{t},{p},{q}\n" for t, p, q in rows).encode()


T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())


async def test_real_kraken_file_stores_trades_and_bars_before_the_last_interval(
    stores: tuple[MemoryTradeStore, MemoryBarStore],
) -> None:
    use_case = importer(stores)
    path = FIXTURE / "kraken_XBTUSD_time_and_sales_real.csv"
    report = await use_case.execute(ImportTradesCommand(path, KEY))
    assert (report.format, report.rows_read, report.stored) == (TradeFormat.KRAKEN_CSV, 3, 3)
    bars = await stores[1].read(M1, EVERYTHING)
    # three trades on three days: the last one's minute may go on past the file, so 2 bars
    assert bars["close"].to_list() == [122.0, 123.61]
    again = await use_case.execute(ImportTradesCommand(path, KEY))
    assert (again.stored, again.duplicates) == (0, 3)
    assert (await stores[0].read(KEY, EVERYTHING)).height == 3


async def test_bars_equal_the_kernel_and_a_later_file_completes_the_open_interval(
    tmp_path: Path, stores: tuple[MemoryTradeStore, MemoryBarStore]
) -> None:
    first = tmp_path / "a.csv"
    first.write_bytes(
        kraken_lines((T0, 100.0, 1.0), (T0 + 30, 105.0, 2.0), (T0, 99.0, 1.0), (T0 + 61, 101.0, 1))
    )
    use_case = importer(stores)
    report = await use_case.execute(ImportTradesCommand(first, KEY, timeframes=(Timeframe.M1,)))
    assert report.bars[0].written == 1
    bars = await stores[1].read(M1, EVERYTHING)
    # the minute of T0: open is the first trade of the file at that second, close the last
    assert bars.select("open", "high", "low", "close", "volume").row(0) == (
        100.0,
        105.0,
        99.0,
        105.0,
        4.0,
    )
    second = tmp_path / "b.csv"
    second.write_bytes(kraken_lines((T0 + 100, 102.0, 3.0), (T0 + 130, 103.0, 1.0)))
    await use_case.execute(ImportTradesCommand(second, KEY))
    bars = await stores[1].read(M1, EVERYTHING)
    assert bars.height == 2  # the minute T0+60 is complete now: it holds 101 and 102
    assert bars.row(1)[1:] == (101.0, 102.0, 101.0, 102.0, 4.0)


async def test_a_bad_line_stores_nothing(
    tmp_path: Path, stores: tuple[MemoryTradeStore, MemoryBarStore]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(kraken_lines((T0, 100.0, 1.0)) + b"1704067300,oops,1\n")
    with pytest.raises(InvalidInput, match="line 2, column price"):
        await importer(stores).execute(ImportTradesCommand(path, KEY))
    assert await stores[0].keys() == []
    assert await stores[1].list_series() == []


async def test_gzip_and_zip_files(
    tmp_path: Path, stores: tuple[MemoryTradeStore, MemoryBarStore]
) -> None:
    raw = (FIXTURE / "binance_spot_aggTrades_docs_example.csv").read_bytes()
    gz = tmp_path / "BTCUSDT-aggTrades-2020-12-25.csv.gz"
    gz.write_bytes(gzip.compress(raw))
    key = TradeKey("binance", Symbol.parse("BTC/USDT"))
    report = await importer(stores).execute(ImportTradesCommand(gz, key))
    assert (report.format, report.stored) == (TradeFormat.BINANCE_AGGTRADES, 1)
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as archive:
        archive.writestr("TimeAndSales_Combined/XBTUSD.csv", kraken_lines((T0, 1.0, 1.0)))
        archive.writestr("TimeAndSales_Combined/ETHUSD.csv", kraken_lines((T0, 2.0, 1.0)))
    with pytest.raises(InvalidInput, match="--member"):
        await importer(stores).execute(ImportTradesCommand(many, KEY))
    report = await importer(stores).execute(ImportTradesCommand(many, KEY, member="XBTUSD.csv"))
    assert (report.file, report.stored) == ("XBTUSD.csv", 1)
    trades = await stores[0].read(KEY, EVERYTHING)
    assert trades["price"].to_list() == [1.0]


async def test_missing_and_empty_files_are_refused(
    tmp_path: Path, stores: tuple[MemoryTradeStore, MemoryBarStore]
) -> None:
    with pytest.raises(InvalidInput, match="not found"):
        await importer(stores).execute(ImportTradesCommand(tmp_path / "none.csv", KEY))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInput, match="no trades"):
        await importer(stores).execute(ImportTradesCommand(empty, KEY, TradeFormat.KRAKEN_CSV))


async def test_numeric_ids_order_trades_of_one_instant(
    tmp_path: Path, stores: tuple[MemoryTradeStore, MemoryBarStore]
) -> None:
    ms = T0 * 1000
    rows = [f"{i},{p},1.0,1,1,{ms},False,True" for i, p in ((9, 10.0), (10, 11.0), (100, 12.0))] + [
        f"101,13.0,1.0,1,1,{ms + 60_000},False,True"
    ]
    path = tmp_path / "x.csv"
    path.write_text("\n".join(rows) + "\n")
    key = TradeKey("binance", Symbol.parse("BTC/USDT"))
    await importer(stores).execute(ImportTradesCommand(path, key, TradeFormat.BINANCE_AGGTRADES))
    bars = await stores[1].read(SeriesKey.parse("binance:BTC/USDT:1m"), EVERYTHING)
    # ids 9, 10, 100 at one ms: as text "10" < "100" < "9"; in the venue's order 9 is first
    assert bars.select("open", "close").row(0) == (10.0, 12.0)
    assert isinstance(bars, pl.DataFrame)
