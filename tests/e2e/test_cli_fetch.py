"""``arbx data fetch`` and ``arbx exchanges status`` against the fake venue servers."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from arbx.entrypoints import runtime
from arbx.entrypoints.cli.fetch import register_exchange_commands
from arbx.entrypoints.cli.main import main
from arbx.entrypoints.container import build_container
from arbx.entrypoints.settings import load_settings
from tests.e2e.conftest import venue_overrides
from tests.support.exchanges import FakeExchanges, Fault

DAY = ("--start", "2024-01-01T00:00:00Z", "--end", "2024-01-02T00:00:00Z")


@pytest.fixture
def venues_env(threaded_venues: FakeExchanges, monkeypatch: pytest.MonkeyPatch) -> FakeExchanges:
    """ARBX_EXCHANGES__<VENUE>__* pointing the CLI's settings at the fake servers."""
    overrides = venue_overrides(threaded_venues, attempts=2, breaker_threshold=2)
    for venue, options in overrides.items():
        for name, value in options.items():
            monkeypatch.setenv(f"ARBX_EXCHANGES__{venue.upper()}__{name.upper()}", str(value))
    return threaded_venues


def arbx(tmp_path: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(tmp_path / "var"), *args])


def fetch(tmp_path: Path, *args: str, exchange: str = "binance", timeframe: str = "1m") -> int:
    return arbx(
        tmp_path,
        "data",
        "fetch",
        "--exchange",
        exchange,
        "--symbol",
        "BTC/USDC",
        "--timeframe",
        timeframe,
        *DAY,
        *args,
    )


def test_fetch_lands_bars_and_a_rerun_fetches_nothing(
    tmp_path: Path, venues_env: FakeExchanges, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fetch(tmp_path) == 0
    out = capsys.readouterr()
    assert "binance:BTC/USDC:1m 2024-01-01T00:00Z .. 2024-01-02T00:00Z" in out.out
    assert "fetched 1,440 bars in 2 page(s)" in out.out
    assert "written 1,440, rejected 0" in out.out
    assert "venue gaps: none" in out.out
    assert "fetched as 1m (native)" in out.out
    assert "[" + "#" * 30 + "] 100.0%  1,440 bars fetched  ETA 0s" in out.err  # progress
    assert arbx(tmp_path, "data", "list") == 0
    assert "1,440" in capsys.readouterr().out
    klines = venues_env.binance.count("/api/v3/klines")

    assert fetch(tmp_path) == 0
    assert "already stored: nothing to fetch (0 bars fetched)" in capsys.readouterr().out
    assert venues_env.binance.count("/api/v3/klines") == klines


def test_fetch_from_binanceus_uses_the_binance_client_at_its_own_url(
    tmp_path: Path, venues_env: FakeExchanges, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fetch(tmp_path, "--quiet", exchange="binanceus") == 0
    out = capsys.readouterr().out
    assert "binanceus:BTC/USDC:1m" in out
    assert "written 1,440, rejected 0" in out
    assert venues_env.binanceus.count("/api/v3/klines") == 2
    assert venues_env.binance.count("/api/v3/klines") == 0  # not the other Binance


def test_fetch_resamples_what_the_venue_lacks_and_reports_venue_gaps(
    tmp_path: Path, venues_env: FakeExchanges, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fetch(tmp_path, "--quiet", exchange="coinbase", timeframe="3m") == 0
    out = capsys.readouterr()
    assert "fetched as 1m (resampled to 3m)" in out.out
    assert out.err == ""  # --quiet: no progress bar
    assert fetch(tmp_path, "--quiet", exchange="kraken") == 0
    out = capsys.readouterr().out
    assert "venue gaps: " in out
    assert "venue gaps: none" not in out


def test_unknown_symbol_exits_2_with_close_matches(
    tmp_path: Path, venues_env: FakeExchanges, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--exchange", "kraken", "--symbol", "BTC/USDD", "--timeframe", "1m", *DAY)
    code = arbx(tmp_path, "data", "fetch", *args)
    assert code == 2
    err = capsys.readouterr().err
    assert "symbol BTC/USDD is not listed on kraken; did you mean" in err
    assert "BTC/USDC" in err
    assert arbx(tmp_path, "data", "list") == 0
    assert "no series stored" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--exchange", "ftx", "--symbol", "BTC/USDC"), "exchange ftx has no configured client"),
        (("--exchange", "binance", "--symbol", "BTCUSDC"), "BASE/QUOTE"),
        (("--exchange", "binance", "--symbol", "BTC/USDC", "--timeframe", "7m"), "7m"),
    ],
)
def test_bad_input_exits_2(
    tmp_path: Path,
    venues_env: FakeExchanges,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    words: str,
) -> None:
    full = ["data", "fetch", *args, *DAY]
    if "--timeframe" not in args:
        full += ["--timeframe", "1m"]
    assert arbx(tmp_path, *full) == 2
    assert words in capsys.readouterr().err
    assert venues_env.binance.count("/api/v3/klines") == 0


def test_bad_times_exit_2(
    tmp_path: Path, venues_env: FakeExchanges, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["data", "fetch", "--exchange", "binance", "--symbol", "BTC/USDC", "--timeframe", "1m"]
    assert arbx(tmp_path, *base, "--start", "soon") == 2
    assert "start 'soon' is not an ISO-8601 time" in capsys.readouterr().err
    assert arbx(tmp_path, *base, "--start", "2024-01-02", "--end", "2024-01-01") == 2
    assert "must be after --start" in capsys.readouterr().err


def test_venue_failure_exits_1_and_keeps_whole_batches(
    tmp_path: Path, venues_env: FakeExchanges, capsys: pytest.CaptureFixture[str]
) -> None:
    venues_env.binance.inject(Fault.http(502, path="/api/v3/klines"), times=2)  # 2 attempts
    assert fetch(tmp_path) == 1
    err = capsys.readouterr().err
    assert "arbx: failed: binance answered HTTP 502" in err
    assert fetch(tmp_path) == 0  # the venue is back (a new process: a closed breaker)
    assert "written 1,440" in capsys.readouterr().out


def test_exchanges_status_reports_reachability(
    tmp_path: Path, venues_env: FakeExchanges, capsys: pytest.CaptureFixture[str]
) -> None:
    """``arbx exchanges status`` (its group is registered by the CLI's main module)."""
    parser = argparse.ArgumentParser()
    register_exchange_commands(parser.add_subparsers(dest="group", required=True))
    args = parser.parse_args(["exchanges", "status"])
    venues_env.kraken.inject(Fault.http(503, path="/0/public/Time"), times=2)
    settings = load_settings(profile="test", overrides={"storage": {"data_dir": str(tmp_path)}})
    container = build_container(settings)

    async def run() -> int:
        await runtime.start(container)
        try:
            code: int = await args.run(args, container)
        finally:
            await runtime.stop(container)
        return code

    assert asyncio.run(run()) == 1
    out = capsys.readouterr().out
    assert f"binance  {venues_env.binance.url}" in out
    assert f"binanceus  {venues_env.binanceus.url}" in out
    assert out.count("  reachable: ") == 3
    assert "  unreachable: kraken answered HTTP 503" in out
    assert "native timeframes: 1m, 5m, 15m, 1h, 6h, 1d" in out  # coinbase
