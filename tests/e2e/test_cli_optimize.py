"""``arbx optimize`` in-process on the bundled sample data (local profile in a temp folder)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from arbx.entrypoints.cli.main import main

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
SPAN = ["--start", "2023-03-10", "--end", "2023-03-12"]
GRID = [
    "optimize",
    "run",
    "--strategy",
    "sma_cross",
    "--series",
    "kraken:BTC/USD:1m",
    *SPAN,
    "--space",
    "fast=5:20:5",
    "--space",
    "slow=30:90:30",
    "--jobs",
    "1",
]


def arbx(data: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(data), *args])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("optimize-cli") / "var"
    assert arbx(folder, "data", "load-samples", "--dir", str(SAMPLES)) == 0
    return folder


def study_id(out: str) -> str:
    found = re.search(r"^study ([0-9a-f]{32})", out, re.MULTILINE)
    assert found, out
    return found.group(1)


def test_a_grid_study_runs_shows_and_promotes(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert arbx(data, *GRID) == 0
    out = capsys.readouterr().out
    sid = study_id(out)
    assert "12 trials" in out
    assert "trials: 12 done, 0 failed, of 12" in out
    assert "deflated Sharpe ratio:" in out
    assert "probability of backtest overfitting" in out
    assert arbx(data, "optimize", "status", sid) == 0
    assert "done" in capsys.readouterr().out
    assert arbx(data, "optimize", "list") == 0
    assert sid in capsys.readouterr().out
    assert arbx(data, "optimize", "show", sid, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown["trials"]) == 12
    assert arbx(data, "optimize", "promote", sid, "2") == 0
    out = capsys.readouterr().out
    run = re.search(r"stored as run ([0-9a-f]{32})", out)
    assert run, out
    assert arbx(data, "backtest", "show", run.group(1)) == 0
    assert "fast=5, slow=90" in capsys.readouterr().out  # trial 2 of the grid
    assert arbx(data, "optimize", "resume", sid) == 0  # nothing left: done at once
    assert "trials: 12 done" in capsys.readouterr().out


def test_random_and_bayes_searches_over_arbitrage(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [
        "optimize",
        "run",
        "--strategy",
        "threshold_arb",
        "--series",
        "kraken:BTC/USDC:1m",
        "--series",
        "kraken:BTC/USD:1m",
        "--conversion",
        "kraken:BTC/USDC:1m=kraken:USDC/USD:1m",
        *SPAN,
        "--space",
        "threshold_bps=1:60",
        "--objective",
        "net_pnl",
        "--trials",
        "4",
        "--jobs",
        "1",
    ]
    for method in ("random", "bayes"):
        assert arbx(data, *common, "--method", method) == 0
        out = capsys.readouterr().out
        assert f"method {method}; 4 trials" in out
        assert "trials: 4 done" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--space", "fast=5:20:0"], "step must be > 0"),
        (["--space", "fast=a:b:c:d:e"], "too many"),
        (["--space", "window=1:5:1"], "unknown parameter 'window'"),
        (["--space", "fast=1:300:1", "--space", "slow=2:400:1"], "more than optimize.max_trials"),
        (["--method", "annealing", "--space", "fast=5:20:5"], "unknown method"),
        ([], "give at least one --space"),
    ],
)
def test_bad_input_exits_2_with_the_reason(
    data: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    base = GRID[: GRID.index("--space")]
    assert arbx(data, *base, *args) == 2
    assert words in capsys.readouterr().err


def test_walk_forward_prints_folds_and_the_chained_oos(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*GRID, "--train", "1200", "--test", "400"]
    args[1] = "walk-forward"
    assert arbx(data, *args) == 0
    out = capsys.readouterr().out
    assert "4 folds" in out
    assert "out of sample, chained:" in out
    assert "walk-forward efficiency:" in out
    assert arbx(data, *args[:-4], "--train", "3000", "--test", "400") == 2
    assert "no walk-forward fold fits 2,880 bars" in capsys.readouterr().err
