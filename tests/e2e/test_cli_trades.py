"""``arbx data import-trades`` and ``arbx data fetch-trades`` end to end (fake venues)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from arbx.entrypoints.cli.main import main
from tests.e2e.conftest import venue_overrides
from tests.support.exchanges import FakeExchanges, Fault

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "trades"
KRAKEN_FILE = FIXTURES / "kraken_XBTUSD_time_and_sales_real.csv"
SPAN = ("--start", "2024-01-01T02:00:00Z", "--end", "2024-01-01T05:00:00Z")


@pytest.fixture
def venues_env(threaded_venues: FakeExchanges, monkeypatch: pytest.MonkeyPatch) -> FakeExchanges:
    overrides = venue_overrides(threaded_venues, attempts=2, breaker_threshold=2)
    for venue, options in overrides.items():
        for name, value in options.items():
            monkeypatch.setenv(f"ARBX_EXCHANGES__{venue.upper()}__{name.upper()}", str(value))
    return threaded_venues


def arbx(tmp_path: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(tmp_path / "var"), *args])


def test_import_trades_stores_trades_and_bars_and_a_reimport_adds_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("data", "import-trades", str(KRAKEN_FILE), "--venue", "kraken", "--symbol", "BTC/USD")
    assert arbx(tmp_path, *args, "--bars", "1m,1h") == 0
    out = capsys.readouterr().out
    assert "read 3, stored 3 new, 0 already stored" in out
    assert "1m bars written 2" in out
    assert "1h bars written 2" in out
    assert arbx(tmp_path, *args) == 0
    assert "stored 0 new, 3 already stored" in capsys.readouterr().out
    assert arbx(tmp_path, "data", "list") == 0
    listed = capsys.readouterr().out
    assert "kraken:BTC/USD:1m" in listed
    assert "kraken:BTC/USD:1h" in listed
    assert arbx(tmp_path, "stream", "trades", "--venue", "kraken", "--symbol", "BTC/USD") == 0
    assert "3 trade(s) stored" in capsys.readouterr().out


def test_a_bad_trade_file_is_exit_2_naming_line_and_column_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "BTCUSDT-aggTrades-2020-12-25.csv.gz"
    good = (FIXTURES / "binance_spot_aggTrades_docs_example.csv").read_bytes()
    bad.write_bytes(gzip.compress(good + b"1,0.2,50.0,1,1,1608872400001,Perhaps,True\n"))
    code = arbx(
        tmp_path, "data", "import-trades", str(bad), "--venue", "binance", "--symbol", "BTC/USDT"
    )
    assert code == 2
    assert "line 2, column is_buyer_maker: 'Perhaps'" in capsys.readouterr().err
    assert arbx(tmp_path, "stream", "trades", "--venue", "binance", "--symbol", "BTC/USDT") == 0
    assert "0 trade(s) stored" in capsys.readouterr().out
    args = ("data", "import-trades", str(bad), "--venue", "binance", "--symbol", "BTC/USDT")
    assert arbx(tmp_path, *args, "--bars", "7m") == 2
    assert "7m" in capsys.readouterr().err


@pytest.mark.parametrize("venue", ["binance", "binanceus", "coinbase", "kraken"])
def test_fetch_trades_backfills_and_a_rerun_stores_nothing_new(
    venue: str, tmp_path: Path, venues_env: FakeExchanges, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("data", "fetch-trades", "--venue", venue, "--symbol", "BTC/USDC", *SPAN, "--quiet")
    assert arbx(tmp_path, *args) == 0
    out = capsys.readouterr().out
    assert f"{venue}:BTC/USDC 2024-01-01T02:00Z .. 2024-01-01T05:00Z: fetched" in out
    stored = int(out.split("stored ")[1].split(" new")[0].replace(",", ""))
    assert stored > 1000
    assert "1m bars written" in out
    assert arbx(tmp_path, *args) == 0
    assert "stored 0 new" in capsys.readouterr().out
    assert arbx(tmp_path, "data", "list") == 0
    listed = capsys.readouterr().out
    assert f"{venue}:BTC/USDC:1m" in listed
    assert "2024-01-01 02:00" in listed


def test_fetch_trades_failing_venue_is_exit_1_and_keeps_the_pages_it_stored(
    tmp_path: Path, venues_env: FakeExchanges, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = venues_env.kraken
    # the second Trades page fails on every attempt
    args = ("data", "fetch-trades", "--venue", "kraken", "--symbol", "BTC/USDC", *SPAN, "--quiet")
    original = fake.take_fault
    calls = {"n": 0}

    def second_page_fails(path: str) -> Fault | None:
        if path == "/0/public/Trades":
            calls["n"] += 1
            if calls["n"] >= 2:
                return Fault.http(503, b"down")
        return original(path)

    fake.take_fault = second_page_fails  # type: ignore[method-assign]
    assert arbx(tmp_path, *args) == 1
    err = capsys.readouterr().err
    assert "1,000 new trade(s) of kraken:BTC/USDC are stored" in err
    fake.take_fault = original  # type: ignore[method-assign]
    assert arbx(tmp_path, *args) == 0
    out = capsys.readouterr().out
    stored = int(out.split("stored ")[1].split(" new")[0].replace(",", ""))
    assert 0 < stored < 1000  # only the trades the failed run did not store


def test_fetch_trades_of_an_unknown_venue_is_exit_2(
    tmp_path: Path, venues_env: FakeExchanges, capsys: pytest.CaptureFixture[str]
) -> None:
    code = arbx(tmp_path, "data", "fetch-trades", "--venue", "ftx", "--symbol", "BTC/USD", *SPAN)
    assert code == 2
    assert "no trade history client" in capsys.readouterr().err
