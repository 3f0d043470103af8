"""A newcomer's slips at the command line (issue 16): each gets one clear line and a documented
exit code, never a traceback; the commands a newcomer looks for are where --help says."""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from arbx.entrypoints.cli.main import main

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"
EXE = str(Path(sys.executable).parent / "arbx")
SMA = [
    "backtest",
    "run",
    "--strategy",
    "sma_cross",
    "--param",
    "fast=10",
    "--param",
    "slow=50",
    "--series",
    "kraken:BTC/USD:1m",
    "--start",
    "2023-03-10",
]


def arbx(data: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(data), *args])


def shell(data: Path, *args: str, **options: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ARBX_DATA_DIR": str(data)}
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, timeout=60, env=env, check=False, **options
    )  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("slips") / "var"
    assert arbx(folder, "data", "load-samples", "--dir", str(SAMPLES)) == 0
    return folder


def run_id(out: str) -> str:
    found = re.search(r"^run ([0-9a-f]{32})", out, re.MULTILINE)
    assert found, out
    return found.group(1)


# -- help ---------------------------------------------------------------------------------


def test_top_level_help_names_the_real_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "market data: import, export, list, stats, retain," in out
    assert "validate, gaps, repair, resample" in out
    assert "status (reachability, latency, clock skew)" in out
    assert "settings" not in out.split("exchanges", 1)[1].split("jobs", 1)[0]
    assert "a port in use" in out  # the exit codes of ordinary events are documented


# -- the data dir -----------------------------------------------------------------------------


def test_a_read_command_does_not_create_a_missing_data_dir(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    for command in (["backtest", "list"], ["data", "list"], ["jobs", "list"]):
        done = shell(missing, *command)
        assert done.returncode == 2, done.stderr
        assert "does not exist" in done.stderr
        assert "Traceback" not in done.stderr
    assert not missing.exists()


def test_a_data_dir_that_is_a_file_is_one_line_exit_2(tmp_path: Path) -> None:
    file = tmp_path / "var"
    file.write_text("not a folder")
    for command in (["backtest", "list"], ["data", "load-samples"]):
        done = shell(file, *command)
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [
            f"arbx: error: data dir {file} is a file, not a folder; point --data-dir (or"
            " ARBX_DATA_DIR) at a folder"
        ]


# -- ordinary events ------------------------------------------------------------------------


def test_a_reader_closing_the_pipe_is_no_error(data: Path) -> None:
    done = subprocess.run(
        f"'{EXE}' backtest strategies | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ARBX_DATA_DIR": str(data)},
        check=False,
    )
    assert done.stdout.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert "BrokenPipe" not in done.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_port_in_use_is_one_line_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = shell(tmp_path / "var", "serve", "--port", str(port))
    assert done.returncode == 1
    assert f"arbx: failed: port {port} on 127.0.0.1 is in use" in done.stderr
    assert "Traceback" not in done.stderr


def wait_healthy(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("the server did not start")


def test_a_second_serve_on_the_same_data_dir_refuses_to_start(tmp_path: Path) -> None:
    data = tmp_path / "var"
    env = {**os.environ, "ARBX_DATA_DIR": str(data)}
    port = free_port()
    first = subprocess.Popen(
        [EXE, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_healthy(port, first)
        second = shell(data, "serve", "--port", str(free_port()))
        assert second.returncode == 1
        assert f"another arbx serve (pid {first.pid}) is serving data dir {data}" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.terminate()
        first.wait(30)
    # the lock goes with its holder: the next server starts
    port = free_port()
    third = subprocess.Popen(
        [EXE, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_healthy(port, third)
    finally:
        third.terminate()
        third.wait(30)


# -- the first admin --------------------------------------------------------------------------


def test_create_admin_without_a_terminal_says_use_password_stdin(tmp_path: Path) -> None:
    done = shell(tmp_path / "var", "users", "create-admin", "--username", "alice", input="")
    assert done.returncode == 2
    assert "--password-stdin" in done.stderr
    assert "EOFError" not in done.stderr
    assert "Traceback" not in done.stderr


def test_create_admin_help_shows_the_password_policy(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["users", "create-admin", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "12 to 256 characters of at least two kinds" in out


# -- backtests: list, show, export ----------------------------------------------------------


def test_backtest_list_shows_params_and_key_metrics(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert arbx(data, *SMA, "--end", "2023-03-12") == 0
    ident = run_id(capsys.readouterr().out)
    assert arbx(data, "backtest", "list") == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if row.startswith(ident))
    assert "fast=10, slow=50" in line
    assert re.search(r"-?\d+\.\d\d%\s+-?\d+\.\d\d%\s+-?[\d.]+\s+\d+\.\d\d%", line), line


def test_backtest_show_trades_prints_every_column_readably(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert arbx(data, *SMA, "--end", "2023-03-12") == 0
    ident = run_id(capsys.readouterr().out)
    assert arbx(data, "backtest", "show", ident, "--trades", "5") == 0
    out = capsys.readouterr().out.split("\ntrades (", 1)[1].splitlines()
    header, rows = out[1], out[3:8]
    for column in ("trade_id", "entry_ts", "exit_ts", "qty", "entry_price", "exit_price", "pnl"):
        assert column in header
    assert "…" not in "\n".join(out)  # no column or value elided
    assert "┆" not in "\n".join(out)  # not a polars repr
    assert len(rows) == 5
    assert re.search(r"2023-03-1\d \d\d:\d\d", rows[0])
    assert re.search(r"-?\d+\.\d\d%", rows[0])  # the return as percent


@pytest.mark.parametrize("suffix", ["csv", "csv.gz", "parquet", "json"])
def test_backtest_export_writes_a_table(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    assert arbx(data, *SMA, "--end", "2023-03-12") == 0
    ident = run_id(capsys.readouterr().out)
    out = tmp_path / f"trades.{suffix}"
    assert arbx(data, "backtest", "export", ident, "--table", "trades", "--out", str(out)) == 0
    assert "rows of trades" in capsys.readouterr().out
    if suffix == "parquet":
        frame = pl.read_parquet(out)
    elif suffix == "json":
        rows = json.loads(out.read_text())
        assert isinstance(rows[0], dict)
        frame = pl.DataFrame(rows)
    else:
        if suffix.endswith("gz"):
            assert out.read_bytes()[:2] == b"\x1f\x8b"
        frame = pl.read_csv(out)
    assert frame.height > 0
    assert "entry_price" in frame.columns


def test_backtest_export_of_a_missing_table_says_so(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert arbx(data, *SMA, "--end", "2023-03-12") == 0
    ident = run_id(capsys.readouterr().out)
    out = tmp_path / "b.csv"
    assert arbx(data, "backtest", "export", ident, "--table", "balances", "--out", str(out)) == 2
    assert "has no balances table" in capsys.readouterr().err
    assert not out.exists()


def test_an_end_past_the_stored_data_says_so_in_the_result(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert arbx(data, *SMA, "--end", "2023-03-20") == 0
    out = capsys.readouterr().out
    assert "note: end 2023-03-20 00:00 is after the stored data of kraken:BTC/USD:1m" in out
    assert "ends at 2023-03-12 00:00 UTC" in out
    assert arbx(data, "backtest", "show", run_id(out), "--json") == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any("after the stored data" in note for note in notes)


def test_an_export_past_the_stored_data_says_so_and_gz_is_gzip(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "btc.csv.gz"
    series = ["--series", "kraken:BTC/USD:1m", "--start", "2023-03-11", "--end", "2023-04-01"]
    assert arbx(data, "data", "export", *series, "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "wrote 1,440 bars" in printed
    assert "note: the stored data of kraken:BTC/USD:1m end at 2023-03-12 00:00 UTC" in printed
    assert gzip.decompress(out.read_bytes()).decode().startswith("ts,open,high,low,close,volume")


@pytest.mark.parametrize(
    "command",
    [
        ["data", "export", "--series", "kraken:BTC/USDD:1m", "--out", "{tmp}/x.csv"],
        ["data", "gaps", "--series", "kraken:BTC/USDD:1m"],
        ["data", "validate", "--series", "kraken:BTC/USDD:1m"],
    ],
)
def test_a_mistyped_series_gets_did_you_mean_and_the_list(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    assert arbx(data, *[part.format(tmp=tmp_path) for part in command]) != 0
    err = capsys.readouterr().err
    assert "did you mean kraken:BTC/USD:1m" in err
    assert "known: binanceus:BTC/USDC:1m, coinbase:BTC/USD:1m" in err
