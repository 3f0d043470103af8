"""Importing the real exchange files in ../shared/data (see its README for their quirks)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from arbx.adapters.files.polars_table_files import PolarsTableFiles
from arbx.adapters.memory.bar_store import MemoryBarStore
from arbx.app.import_bars import ImportBars, ImportCommand
from arbx.domain.market import SeriesKey, TimeSpan

pytestmark = pytest.mark.shared_data

# file -> (series, rows the README lists)
SVB = {
    "binanceus_BTC-USDT_1m.csv": ("binanceus:BTC/USDT:1m", 30240),
    "binanceus_BTC-USDC_1m.csv": ("binanceus:BTC/USDC:1m", 30240),
    "binanceus_USDC-USDT_1m.csv": ("binanceus:USDC/USDT:1m", 30240),
    "coinbase_BTC-USD_1m.csv": ("coinbase:BTC/USD:1m", 29950),
    "coinbase_BTC-USDT_1m.csv": ("coinbase:BTC/USDT:1m", 24478),
    "coinbase_USDT-USD_1m.csv": ("coinbase:USDT/USD:1m", 29927),
    "kraken_BTC-USD_1m.csv": ("kraken:BTC/USD:1m", 30179),
    "kraken_BTC-USDT_1m.csv": ("kraken:BTC/USDT:1m", 20442),
    "kraken_BTC-USDC_1m.csv": ("kraken:BTC/USDC:1m", 15719),
    "kraken_USDC-USD_1m.csv": ("kraken:USDC/USD:1m", 20934),
    "kraken_USDT-USD_1m.csv": ("kraken:USDT/USD:1m", 29959),
}


@pytest.fixture
def store() -> MemoryBarStore:
    return MemoryBarStore()


@pytest.fixture
def importer(store: MemoryBarStore) -> ImportBars:
    return ImportBars(PolarsTableFiles(), store)


@pytest.mark.parametrize("name", sorted(SVB))
async def test_svb_files_import_whole(
    shared_data: Path, store: MemoryBarStore, importer: ImportBars, name: str
) -> None:
    series, rows = SVB[name]
    key = SeriesKey.parse(series)
    report = await importer.execute(ImportCommand(path=shared_data / "svb_2023-03" / name, key=key))
    assert (report.rows_read, report.rows_accepted, report.rows_written) == (rows, rows, rows)
    assert report.rejected == []
    stored = await store.read(key, TimeSpan.everything())
    assert stored["ts"].is_sorted()
    # the README's "missing intervals": venues that omit quiet minutes show gaps in coverage
    span_minutes = (stored["ts"][-1] - stored["ts"][0]).total_seconds() / 60 + 1
    coverage = await store.coverage(key)
    assert sum((s.end - s.start).total_seconds() / 60 for s in coverage) == rows
    assert (len(coverage) == 1) == (span_minutes == rows)


async def test_binance_us_stale_minutes_are_kept_as_real_bars(
    shared_data: Path, store: MemoryBarStore, importer: ImportBars
) -> None:
    key = SeriesKey.parse("binanceus:BTC/USDC:1m")
    path = shared_data / "svb_2023-03" / "binanceus_BTC-USDC_1m.csv"
    await importer.execute(ImportCommand(path=path, key=key))
    bars = await store.read(key, TimeSpan.everything())
    stale = bars.filter((pl.col("volume") == 0) & (pl.col("open") == pl.col("close")))
    assert 0.40 < stale.height / bars.height < 0.46  # README: 43% zero-volume minutes


@pytest.mark.parametrize(
    ("folder", "name", "series", "rows"),
    [
        ("hourly_2018", "coinbase_BTC-USD_1h.csv", "coinbase:BTC/USD:1h", 5952),
        ("hourly_2018", "binance_BTC-USDT_1h.csv", "binance:BTC/USDT:1h", 5936),
        ("bittrex_2018-01", "bittrex_ADA-BTC_5m.csv", "bittrex:ADA/BTC:5m", 5720),
        ("xrp-eth_2019-10", "XRP-ETH_5m.csv", "binance:XRP/ETH:5m", 706),
    ],
)
async def test_other_datasets_import(
    shared_data: Path, importer: ImportBars, folder: str, name: str, series: str, rows: int
) -> None:
    report = await importer.execute(
        ImportCommand(path=shared_data / folder / name, key=SeriesKey.parse(series))
    )
    assert (report.rows_accepted, report.rows_written, report.rejected) == (rows, rows, [])


async def test_native_formats(
    shared_data: Path, store: MemoryBarStore, importer: ImportBars
) -> None:
    samples = shared_data / "original_format_samples"
    # Kraken's downloadable OHLCVT: no header, unix seconds
    kraken = await importer.execute(
        ImportCommand(
            path=samples / "kraken_OHLCVT_XBTUSDC_1_2023-03-01_sample.csv",
            key=SeriesKey.parse("kraken:BTC/USDC:1m"),
            has_header=False,
            mapping={
                "ts": "column_0",
                "open": "column_1",
                "high": "column_2",
                "low": "column_3",
                "close": "column_4",
                "volume": "column_5",
            },
        )
    )
    assert (kraken.rows_read, kraken.rows_written, kraken.rejected) == (113, 113, [])
    # CryptoDataDownload: a banner line, Unix seconds, descending rows
    cdd = await importer.execute(
        ImportCommand(
            path=samples / "cdd_Coinbase_BTCUSD_1h_2017-07_sample.csv",
            key=SeriesKey.parse("coinbase:BTC/USD:1h"),
            skip_rows=1,
            mapping={"volume": "Volume BTC"},
        )
    )
    assert (cdd.rows_written, cdd.rejected) == (48, [])
    # CDD legacy: "2017-07-01 11-AM" times, ascending
    legacy = await importer.execute(
        ImportCommand(
            path=samples / "cdd_legacy_Kraken_BTCUSD_1h_2017-07_sample.csv",
            key=SeriesKey.parse("kraken:BTC/USD:1h"),
            skip_rows=0,
            mapping={"volume": "Volume From"},
            time_format="%Y-%m-%d %I-%p",
        )
    )
    assert (legacy.rows_written, legacy.rejected) == (50, [])
    # freqtrade's ccxt JSON list of [ms, o, h, l, c, v]
    ccxt = await importer.execute(
        ImportCommand(
            path=samples / "freqtrade_ccxt_json_XRP_ETH-5m.json",
            key=SeriesKey.parse("binance:XRP/ETH:5m"),
        )
    )
    assert (ccxt.rows_written, ccxt.rejected) == (712, [])
