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
    *SPAN,
]


def test_execution_and_latency_options_reach_the_stored_request(
    data: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A single-market run on synthetic books from the options alone."""
    assert arbx(data, *SMA, "--execution", "synthetic_book", "--latency-ms", "50") == 0
    out = capsys.readouterr().out
    assert "execution synthetic_book (SYNTHETIC books)" in out
    assert "note: SYNTHETIC order books: market orders filled by walking books" in out
    assert arbx(data, "backtest", "show", run_id(out), "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["execution"], shown["synthetic"], shown["engine"]) == (
        "synthetic_book",
        True,
        "event",
    )
    assert (shown["request"]["execution"], shown["request"]["latency_ms"]) == (
        "synthetic_book",
        50,
    )


def test_a_recorded_execution_without_recorded_books_exits_2_and_stores_nothing(
    data: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing is recorded in this data dir: the run is refused by name (whether or not a
    quote/book store is wired into the backtests), and no run is stored."""
    assert arbx(data, "backtest", "list", "--limit", "1000") == 0
    before = capsys.readouterr().out
    assert arbx(data, *ARB, "--execution", "recorded_book", "--latency-ms", "50") == 2
    err = capsys.readouterr().err
    assert "execution 'recorded_book'" in err
    assert arbx(data, "backtest", "list", "--limit", "1000") == 0
    assert capsys.readouterr().out == before
    assert arbx(data, *SMA, "--latency-ms", "50") == 2
    assert "latency_ms" in capsys.readouterr().err
