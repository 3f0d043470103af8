"""``arbx backtest`` in-process on the bundled sample data (local profile in a temp folder)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from arbx.entrypoints.cli.main import main

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
SPAN = ["--start", "2023-03-10", "--end", "2023-03-12"]
SMA_NO_SERIES = [
    "backtest",
    "run",
    "--strategy",
    "sma_cross",
    "--param",
    "fast=10",
    "--param",
    "slow=50",
    *SPAN,
]
SMA = [*SMA_NO_SERIES, "--series", "kraken:BTC/USD:1m"]


def arbx(data: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(data), *args])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("backtest-cli") / "var"
    assert arbx(folder, "data", "load-samples", "--dir", str(SAMPLES)) == 0
    return folder


def run_id(out: str) -> str:
    found = re.search(r"^run ([0-9a-f]{32})", out, re.MULTILINE)
    assert found, out
    return found.group(1)


def metric(out: str, label: str) -> tuple[str, str]:
    found = re.search(rf"^{re.escape(label)}\s+(\S+)\s+(\S*)$", out, re.MULTILINE)
    assert found, f"{label!r} not in:\n{out}"
    return found.group(1), found.group(2)


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["backtest", "--help"], ["backtest", "run", "--help"]):
        with pytest.raises(SystemExit) as done:
            main(args)
        assert done.value.code == 0
    out = capsys.readouterr().out
    for option in ("--strategy", "--param NAME=VALUE", "--series", "--start", "--end"):
        assert option in out
    for option in ("--capital", "--fee", "--fill", "--engine", "--conversion", "--slippage-bps"):
        assert option in out
    assert "optimistic" in out
    assert "next_open" in out


def test_run_prints_metrics_beside_the_benchmark_and_stores_the_run(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert arbx(data, *SMA, "--fee", "kraken=26") == 0
    out = capsys.readouterr().out
    strategy, benchmark = metric(out, "trades")
    assert int(strategy) > 0
    assert benchmark == "0"  # buy and hold never closes its one position
    assert metric(out, "total return")[0].endswith("%")
    assert "kraken:BTC/USD:1m: 2,880 bars" in out
    assert "fill next_open" in out
    first = run_id(out)

    assert arbx(data, "backtest", "show", first) == 0
    shown = capsys.readouterr().out
    assert metric(shown, "trades") == metric(out, "trades")
    assert metric(shown, "Sharpe") == metric(out, "Sharpe")
    assert "2023-03-10 00:00 .. 2023-03-11 23:59" in shown

    assert arbx(data, "backtest", "show", first, "--json") == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["request"]["fees"]["kraken"] == {"maker_bps": 26.0, "taker_bps": 26.0}

    assert arbx(data, "backtest", "rerun", first) == 0
    again = capsys.readouterr().out
    assert run_id(again) != first
    for label in ("total return", "Sharpe", "max drawdown", "fees paid", "final equity"):
        assert metric(again, label) == metric(out, label)


def test_arbitrage_with_a_conversion_series(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = arbx(
        data,
        "backtest",
        "run",
        "--strategy",
        "threshold_arb",
        "--param",
        "threshold_bps=20",
        "--series",
        "kraken:BTC/USDC:1m",
        "--series",
        "kraken:BTC/USD:1m",
        "--conversion",
        "kraken:BTC/USDC:1m=kraken:USDC/USD:1m",
        *SPAN,
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "engine arbitrage" in out
    assert re.search(r"opportunities: seen [\d,]+, taken [\d,]+", out)
    assert "kraken:USDC/USD:1m: 2,353 bars" in out
    assert "613 bars" in out  # the minutes kraken left out of BTC/USDC
    # the explanation: attribution in the common currency, the inventory benchmark, and a
    # two-day span's annualized figures marked
    assert "P&L attribution (USD):" in out
    assert "inventory_revaluation" in out
    assert "hold inventory" in out
    assert "excess over the benchmark:" in out
    assert "* annualized from a span under 30 days" in out
    shown = arbx(data, "backtest", "show", run_id(out), "--opportunities", "5")
    assert shown == 0
    table = capsys.readouterr().out
    assert "opportunities (" in table
    assert "peak_net_bps" in table
    assert "peak net spread after fees (bps): opportunities per bin" in table


def test_list_strategies_and_delete(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert arbx(data, *SMA) == 0
    made = run_id(capsys.readouterr().out)
    assert arbx(data, "backtest", "list", "--strategy", "sma_cross") == 0
    listed = capsys.readouterr().out
    assert made in listed
    assert "threshold_arb" not in listed
    assert arbx(data, "backtest", "strategies") == 0
    strategies = capsys.readouterr().out
    assert "sma_cross (signal, 1 series)" in strategies
    assert "--param slow=50" in strategies
    assert arbx(data, "backtest", "delete", made) == 0
    capsys.readouterr()
    assert arbx(data, "backtest", "show", made) == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--strategy", "nope"], "unknown strategy"),
        (["--param", "fast=60"], "shorter"),
        (["--param", "fats=3"], "unknown parameter"),
        (["--start", "2023-03-12", "--end", "2023-03-10"], "before"),
        (["--series", "binance:BTC/USDT:1m"], "unknown series"),
        (["--fee", "krakn=26"], "did you mean kraken"),
        (["--strategy", "sma_crss"], "did you mean sma_cross"),
        (["--param", "slow=4000"], "lookback"),
        (["--capital", "-5"], "positive"),
        (["--fee", "kraken=-1"], "basis points"),
        (["--fee", "kraken"], "is not NAME=VALUE"),
    ],
)
def test_bad_input_exits_2_and_stores_nothing(
    data: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    assert arbx(data, "backtest", "list", "--limit", "1000") == 0
    before = capsys.readouterr().out
    base = SMA_NO_SERIES if "--series" in args else SMA
    assert arbx(data, *base, *args) == 2
    assert words in capsys.readouterr().err
    assert arbx(data, "backtest", "list", "--limit", "1000") == 0
    assert capsys.readouterr().out == before


def test_a_missing_required_option_exits_2(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert arbx(data, "backtest", "run", "--strategy", "sma_cross", *SPAN) == 2
    assert "--series is required" in capsys.readouterr().err


def test_rerun_says_whether_the_data_changed_with_both_fingerprints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "var"
    assert arbx(folder, "data", "load-samples", "--dir", str(SAMPLES)) == 0
    assert arbx(folder, *SMA) == 0
    first = run_id(capsys.readouterr().out)
    assert arbx(folder, "backtest", "rerun", first) == 0
    assert f"rerun of {first}: same data" in capsys.readouterr().out

    # the venue revises one bar: re-importing it upserts a new close
    revised = tmp_path / "kraken_BTC-USD_1m.csv"
    revised.write_text(
        "timestamp,open,high,low,close,volume\n1678406400000,20363.7,20364.0,20359.2,20363.0,1.5\n"
    )
    assert arbx(folder, "data", "import", str(revised)) == 0
    capsys.readouterr()
    assert arbx(folder, "backtest", "show", first, "--json") == 0
    before = json.loads(capsys.readouterr().out)["series"][0]
    assert arbx(folder, "backtest", "rerun", first) == 0
    out = capsys.readouterr().out
    assert f"rerun of {first}: DATA CHANGED in 1 series" in out
    assert (
        f"before: 2,880 bars 2023-03-10 00:00 .. 2023-03-11 23:59, sha256 {before['sha256']}" in out
    )
    now = re.search(r"now: +2,880 bars .*, sha256 ([0-9a-f]{64})$", out, re.MULTILINE)
    assert now is not None
    assert now.group(1) != before["sha256"]
    assert f"note: data changed since run {first}: kraken:BTC/USD:1m" in out
