"""``arbx strategies check`` and plugins in ``arbx backtest`` (local profile, sample data)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from arbx.domain.strategies import clear_plugins
from arbx.entrypoints.cli.main import main
from tests.support.plugins import EXAMPLES, write_plugin

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
SPAN = ["--start", "2023-03-10", "--end", "2023-03-11"]


def arbx(data: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(data), *args])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("strategies-cli") / "var"
    assert arbx(folder, "data", "load-samples", "--dir", str(SAMPLES)) == 0
    return folder


@pytest.fixture
def mine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "mine"
    write_plugin(
        folder,
        "buggy",
        """
        from arbx.strategy import signal

        @signal
        def buggy(bars, p):
            return 1 / 0
        """,
    )
    write_plugin(
        folder,
        "peeks",
        """
        import numpy as np
        from arbx.strategy import signal

        @signal
        def peeks(bars, p):
            return (np.roll(bars.close, -3) > bars.close).astype(float)
        """,
    )
    write_plugin(folder, "broken", "import not_a_module_anywhere\n")
    monkeypatch.setenv("ARBX_STRATEGIES__PATHS", os.pathsep.join([str(EXAMPLES), str(folder)]))
    yield folder
    clear_plugins()


def test_check_passes_an_honest_plugin_and_fails_one_that_peeks(
    data: Path, mine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert arbx(data, "strategies", "check", "bollinger_breakout", "--param", "window=30") == 0
    out = capsys.readouterr().out
    assert "ok: no decision depends on a later bar" in out
    assert "broken.py failed to load" in out
    assert arbx(data, "strategies", "check", "peeks", "--json") == 1
    report = json.loads(capsys.readouterr().out.splitlines()[0])
    assert report["ok"] is False
    assert report["violations"]
    assert arbx(data, "strategies", "check", "StopAndReverse") == 0
    assert arbx(data, "strategies", "check", "bollinger_breakout", "--param", "window=1") == 2
    assert "window" in capsys.readouterr().err


def test_plugins_are_listed_and_run_like_builtins(
    data: Path, mine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert arbx(data, "backtest", "strategies") == 0
    out = capsys.readouterr().out
    assert "bollinger_breakout (signal, 1 series, plugin " in out
    assert "--param window=20  (integer, >= 2, <= 2000)" in out
    assert "broken.py FAILED to load" in out
    assert "ModuleNotFoundError" in out
    series = ["--series", "kraken:BTC/USD:1m"]
    assert arbx(data, "backtest", "run", "--strategy", "bollinger_breakout", *series, *SPAN) == 0
    assert "bollinger_breakout" in capsys.readouterr().out
    assert arbx(data, "backtest", "run", "--strategy", "StopAndReverse", *series, *SPAN) == 0


def test_a_plugin_that_raises_is_a_failed_run_with_its_traceback(
    data: Path, mine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = ["--series", "kraken:BTC/USD:1m"]
    assert arbx(data, "backtest", "run", "--strategy", "buggy", *series, *SPAN) == 2
    err = capsys.readouterr().err
    assert "failed in its signal function: ZeroDivisionError: division by zero" in err
    assert "buggy.py" in err
    assert "return 1 / 0" in err
    assert "backtest run " in err
