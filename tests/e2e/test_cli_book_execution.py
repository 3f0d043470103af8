"""``arbx backtest run --request FILE`` with the synthetic-book execution model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli_backtest import SPAN, arbx, data, run_id  # noqa: F401

ARB = [
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
]


def test_a_synthetic_book_run_says_so(
    data: Path,  # noqa: F811  (the fixture)
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    request = tmp_path / "book.json"
    request.write_text(json.dumps({"execution": "synthetic_book", "book": {"spread_bps": 4}}))
    assert arbx(data, *ARB, "--request", str(request)) == 0
    out = capsys.readouterr().out
    assert "execution synthetic_book (SYNTHETIC books)" in out
    assert "note: SYNTHETIC order books" in out
    assert arbx(data, "backtest", "show", run_id(out), "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["synthetic"] is True
    assert shown["request"]["execution"] == "synthetic_book"


def test_an_unknown_execution_exits_2(
    data: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    request = tmp_path / "book.json"
    request.write_text(json.dumps({"execution": "quotes"}))
    assert arbx(data, *ARB, "--request", str(request)) == 2
    assert "execution" in capsys.readouterr().err
