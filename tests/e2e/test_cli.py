"""The arbx command line, in-process (fast) and once as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from arbx.entrypoints.cli.main import main
from tests.builders import make_bars

REPO = Path(__file__).resolve().parents[2]


def arbx(tmp_path: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(tmp_path / "var"), *args])


def csv_file(path: Path, bars: pl.DataFrame) -> Path:
    bars.rename({"ts": "timestamp"}).with_columns(pl.col("timestamp").dt.epoch("ms")).write_csv(
        path
    )
    return path


def test_help_explains_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--help"], ["data", "--help"], ["data", "import", "--help"], ["serve", "--help"]):
        with pytest.raises(SystemExit) as done:
            main(args)
        assert done.value.code == 0
    out = capsys.readouterr().out
    assert "Exit codes" in out
    assert "--time-unit" in out
    assert "--map COLUMN=SOURCE" in out


def test_import_list_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bars = make_bars(120)
    source = csv_file(tmp_path / "kraken_BTC-USDC_1m.csv", bars)
    assert arbx(tmp_path, "data", "import", str(source)) == 0
    out = capsys.readouterr()
    assert "accepted 120, written 120, rejected 0" in out.out
    assert "120/120 bars" in out.err  # progress
    assert arbx(tmp_path, "data", "list") == 0
    assert "kraken:BTC/USDC:1m" in capsys.readouterr().out
    target = tmp_path / "out.parquet"
    assert (
        arbx(tmp_path, "data", "export", "--series", "kraken:BTC/USDC:1m", "--out", str(target))
        == 0
    )
    assert pl.read_parquet(target).equals(bars)


def test_import_reports_rejected_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bars = make_bars(20).with_columns(
        pl.when(pl.int_range(pl.len()) == 4).then(0.0).otherwise(pl.col("open")).alias("open")
    )
    source = csv_file(tmp_path / "x.csv", bars)
    code = arbx(
        tmp_path,
        "data",
        "import",
        str(source),
        "--exchange",
        "binance",
        "--symbol",
        "btc/usdc",
        "--timeframe",
        "1m",
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "rejected 1" in out
    assert "rejected row 4: open" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "data",
                "import",
                "{dir}/missing.csv",
                "--exchange",
                "kraken",
                "--symbol",
                "BTC/USDC",
                "--timeframe",
                "1m",
            ],
            "does not exist",
        ),
        (["data", "import", "{dir}/x.csv", "--exchange", "kraken"], "give all of"),
        (
            [
                "data",
                "import",
                "{dir}/x.csv",
                "--exchange",
                "kraken",
                "--symbol",
                "BTC/USDC",
                "--timeframe",
                "7m",
            ],
            "timeframe '7m' is not supported",
        ),
        (
            ["data", "export", "--series", "kraken:BTC/USDC:1m", "--out", "{dir}/o.csv"],
            "nothing to export",
        ),
        (
            ["data", "export", "--series", "kraken-BTC", "--out", "{dir}/o.csv"],
            "EXCHANGE:BASE/QUOTE",
        ),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    csv_file(tmp_path / "x.csv", make_bars(3))
    (tmp_path / "var").mkdir()  # an empty store (a missing one is refused first)
    code = arbx(tmp_path, *[a.format(dir=tmp_path) for a in args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_bad_setting_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARBX_HTTP__PROT", "1")
    assert arbx(tmp_path, "data", "list") == 2
    assert "http.prot" in capsys.readouterr().err


def test_load_samples_if_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert arbx(tmp_path, "data", "load-samples", "--if-empty") == 0
    loaded = capsys.readouterr().out
    assert "kraken:USDC/USD:1m" in loaded
    assert arbx(tmp_path, "data", "load-samples", "--if-empty") == 0
    assert "samples not loaded" in capsys.readouterr().out


def test_the_installed_entry_point_runs(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "arbx"
    done = subprocess.run(
        [str(exe), "--data-dir", str(tmp_path), "data", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "no series stored" in done.stdout
    usage = subprocess.run(
        [str(exe), "data", "frobnicate"], capture_output=True, text=True, timeout=60, check=False
    )
    assert usage.returncode == 2


def test_serve_with_an_unreachable_database_exits_1_with_one_clear_line(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "arbx"
    env = {
        "PATH": str(Path(sys.executable).parent),
        "ARBX_PROFILE": "server",
        "ARBX_DATABASE_URL": "postgresql://postgres@127.0.0.1:9/arbx",
        "ARBX_DATABASE__STARTUP_RETRY_S": "1",
        "ARBX_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [str(exe), "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert done.returncode == 1
    assert "unreachable" in done.stderr
    assert "Traceback" not in done.stderr


def test_import_parses_text_times_with_time_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--time-format reaches the importer (it was accepted and then ignored)."""
    bars = make_bars(30, timeframe="1h")
    source = tmp_path / "cdd.csv"
    bars.with_columns(pl.col("ts").dt.strftime("%Y-%m-%d %I-%p")).rename(
        {"ts": "Date", "volume": "Volume BTC"}
    ).write_csv(source)
    series = ["--exchange", "kraken", "--symbol", "BTC/USD", "--timeframe", "1h"]
    options = [*series, "--map", "ts=Date", "--map", "volume=Volume BTC"]
    code = arbx(
        tmp_path, "data", "import", str(source), *options, "--time-format", "%Y-%m-%d %I-%p"
    )
    assert code == 0, capsys.readouterr().err
    assert "accepted 30, written 30, rejected 0" in capsys.readouterr().out
    target = tmp_path / "out.parquet"
    export = ["data", "export", "--series", "kraken:BTC/USD:1h", "--out", str(target)]
    assert arbx(tmp_path, *export) == 0
    assert pl.read_parquet(target).equals(bars)
