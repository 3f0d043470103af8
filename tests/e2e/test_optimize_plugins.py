"""Optimization and walk-forward over plugin strategies (examples/strategies), end to end in
the CLI on the sample data: plugins have no grid kernel, so every trial runs the generic
engine path (in the worker pool, which loads the same plugins)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from arbx.domain.strategies import clear_plugins
from arbx.entrypoints.cli.main import main
from tests.support.plugins import EXAMPLES

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
COMMON = ["--series", "kraken:BTC/USD:1m", "--start", "2023-03-10", "--end", "2023-03-12"]


def arbx(data: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(data), *args])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("optimize-plugins") / "var"
    assert arbx(folder, "data", "load-samples", "--dir", str(SAMPLES)) == 0
    return folder


@pytest.fixture
def examples(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ARBX_STRATEGIES__PATHS", os.pathsep.join([str(EXAMPLES)]))
    yield
    clear_plugins()


def newest_id(out: str, word: str) -> str:
    found = re.findall(rf"^{word} ([0-9a-f]{{32}})", out, re.MULTILINE)
    assert found, out
    return found[-1]


def test_a_grid_over_a_signal_plugin_is_stored_and_promoted(
    data: Path, examples: None, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = ["--space", "window=10:40:10", "--space", "k=1.5,2.5", "--jobs", "2"]
    assert arbx(data, "optimize", "run", "--strategy", "bollinger_breakout", *COMMON, *grid) == 0
    out = capsys.readouterr().out
    sid = newest_id(out, "study")
    assert "trials: 8 done, 0 failed, of 8" in out
    assert arbx(data, "optimize", "show", sid, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    windows = sorted({t["params"]["window"] for t in shown["trials"]})
    assert windows == [10, 20, 30, 40]
    assert len({t["value"] for t in shown["trials"]}) > 1  # the parameters matter
    assert arbx(data, "optimize", "promote", sid) == 0
    run = re.search(r"stored as run ([0-9a-f]{32})", capsys.readouterr().out)
    assert run
    assert arbx(data, "backtest", "show", run.group(1), "--json") == 0
    meta = json.loads(capsys.readouterr().out)
    best = max((t for t in shown["trials"] if t["value"] is not None), key=lambda t: t["value"])
    assert meta["strategy"] == "bollinger_breakout"
    assert meta["metrics"]["sharpe"] == pytest.approx(best["metrics"]["sharpe"])


def test_a_random_search_over_an_event_plugin(
    data: Path, examples: None, capsys: pytest.CaptureFixture[str]
) -> None:
    search = ["--method", "random", "--trials", "4", "--space", "window=10:40"]
    args = ["--strategy", "StopAndReverse", *COMMON, *search, "--space", "exit_window=5:20"]
    assert arbx(data, "optimize", "run", *args) == 0
    out = capsys.readouterr().out
    assert "trials: 4 done, 0 failed, of 4" in out


def test_a_walk_forward_over_a_plugin_is_stored_and_shown_later(
    data: Path, examples: None, capsys: pytest.CaptureFixture[str]
) -> None:
    wf = ["--space", "window=10:30:10", "--train", "1200", "--test", "600"]
    assert (
        arbx(data, "optimize", "walk-forward", "--strategy", "bollinger_breakout", *COMMON, *wf)
        == 0
    )
    out = capsys.readouterr().out
    wf_id = newest_id(out, "walk-forward")
    assert "walk-forward efficiency:" in out
    assert arbx(data, "optimize", "show", wf_id, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["walk_forward"]["status"] == "done"
    assert shown["walk_forward"]["strategy"] == "bollinger_breakout"
    folds = shown["result"]["folds"]
    assert len(folds) == 2
    assert all(f["error"] is None and f["params"]["window"] in (10, 20, 30) for f in folds)
    assert len(shown["result"]["oos_equity"]) == 1200
    assert arbx(data, "optimize", "status", wf_id) == 0
    assert f"walk-forward {wf_id}: done" in capsys.readouterr().out
