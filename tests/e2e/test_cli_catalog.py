"""``arbx strategies create|edit|list|show|versions|diff|rollback|promote|retire|evaluate``
in-process on the sample data (local profile, SQLite catalog)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from arbx.entrypoints.cli.main import main

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def arbx(data: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(data), *args])


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "var"
    assert arbx(folder, "data", "load-samples", "--dir", str(SAMPLES)) == 0
    return folder


def test_a_definition_through_its_whole_life(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create = ["strategies", "create", "btc-sma", "--strategy", "sma_cross"]
    spec = ["--param", "fast=10", "--param", "slow=50", "--series", "kraken:BTC/USD:1m"]
    assert arbx(data, *create, *spec, "--fee", "kraken=25,40", "--notes", "first") == 0
    assert "created btc-sma v1 (draft)" in capsys.readouterr().out
    assert arbx(data, "strategies", "edit", "btc-sma", "--param", "slow=80", "--why", "slower") == 0
    assert arbx(data, "strategies", "diff", "btc-sma", "1", "2") == 0
    assert "params.slow: 50 -> 80" in capsys.readouterr().out
    assert arbx(data, "strategies", "rollback", "btc-sma", "1") == 0
    assert "btc-sma v3 = v1 (rollback)" in capsys.readouterr().out
    assert arbx(data, "strategies", "promote", "btc-sma", "3", "--to", "candidate") == 0
    assert arbx(data, "strategies", "promote", "btc-sma", "3", "--to", "approved") == 2
    assert "walk-forward" in capsys.readouterr().err
    approve = ["strategies", "promote", "btc-sma", "3", "--to", "approved"]
    assert arbx(data, *approve, "--walk-forward", "wf-1") == 2
    assert "walk-forward 'wf-1' does not exist" in capsys.readouterr().err
    wf = [
        "optimize", "walk-forward", "--start", "2023-03-10", "--end", "2023-03-12",
        "--space", "fast=5,10", "--space", "slow=30,60", "--train", "1200", "--test", "600",
    ]  # fmt: skip
    assert arbx(data, *wf, "--strategy", "btc-sma@v2") == 0
    v2_wf = re.search(r"^walk-forward ([0-9a-f]{32})", capsys.readouterr().out, re.MULTILINE)
    assert v2_wf
    assert arbx(data, *approve, "--walk-forward", v2_wf.group(1)) == 2
    assert "was run on btc-sma@v2, not on btc-sma@v3" in capsys.readouterr().err
    assert arbx(data, *wf, "--strategy", "btc-sma@v3") == 0
    out = capsys.readouterr().out
    v3_wf = re.search(r"^walk-forward ([0-9a-f]{32})", out, re.MULTILINE)
    assert v3_wf, out
    assert "of btc-sma@v3" in out
    assert arbx(data, *approve, "--walk-forward", v3_wf.group(1)) == 0
    assert arbx(data, "strategies", "evaluate", "btc-sma", "--days", "1") == 0
    out = capsys.readouterr().out
    found = re.search(r"^run ([0-9a-f]{32})  btc-sma@v3$", out, re.MULTILINE)
    assert found, out
    assert arbx(data, "backtest", "show", found.group(1)) == 0
    assert "strategy version: btc-sma@v3" in capsys.readouterr().out
    span = ["--start", "2023-03-10", "--end", "2023-03-11"]
    assert arbx(data, "strategies", "run", "btc-sma", "--version", "2", *span) == 0
    assert "btc-sma@v2" in capsys.readouterr().out
    assert arbx(data, "strategies", "run", "btc-sma", "--version", "9", *span) == 1
    assert "no version 9" in capsys.readouterr().err
    assert arbx(data, "strategies", "show", "btc-sma", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert [v["state"] for v in shown["versions"]] == ["draft", "draft", "approved"]
    assert shown["versions"][2]["change"] == "rollback to v1"
    assert shown["versions"][0]["spec"]["fees"] == {
        "kraken": {"maker_bps": 25.0, "taker_bps": 40.0}
    }
    assert arbx(data, "strategies", "retire", "btc-sma", "3") == 0
    assert arbx(data, "strategies", "promote", "btc-sma", "3", "--to", "candidate") == 1
    assert "retired is final" in capsys.readouterr().err
    assert arbx(data, "strategies", "list") == 0
    assert "btc-sma  v3" in capsys.readouterr().out


def test_bad_input_is_refused_and_nothing_is_stored(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = [
        ["--strategy", "nope"],
        ["--strategy", "rsi", "--param", "period=1"],
        ["--strategy", "sma_cross", "--fee", "kraken=25"],
        ["--strategy", "sma_cross", "--series", "nowhere"],
    ]
    for args in bad:
        assert arbx(data, "strategies", "create", "x1", *args) == 2, args
    capsys.readouterr()
    assert arbx(data, "strategies", "list") == 0
    assert "no strategies stored" in capsys.readouterr().out
    assert arbx(data, "strategies", "create", "x1", "--strategy", "sma_cross") == 0
    assert arbx(data, "strategies", "rollback", "x1", "9") == 2
    assert "no version 9 to roll back to" in capsys.readouterr().err
    assert arbx(data, "strategies", "show", "nope") == 1
    assert "does not exist" in capsys.readouterr().err
