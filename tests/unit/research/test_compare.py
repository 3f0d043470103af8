"""Run comparison: overlap, differences, one axis, the Sharpe test on common bars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from arbx.domain.backtest.execution import BarArrays, Execution
from arbx.domain.backtest.request import decode_request, validate_request
from arbx.domain.backtest.run import BacktestRun, SeriesUsed
from arbx.domain.backtest.vectorized import run_vectorized
from arbx.domain.errors import InvalidInput
from arbx.domain.research.compare import RunCurve, compare_runs
from arbx.domain.research.sharpe_test import jobson_korkie_memmel
from tests.builders import make_bars

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def curve(run_id: str, start: int, n: int, period: int, sha: str = "x") -> RunCurve:
    frame = make_bars(n, T0 + timedelta(minutes=start), volatility=0.01, seed=3)
    bars = BarArrays.from_frame(frame, venue="binance", symbol="BTC/USDC")
    target = (np.arange(n) % period < period // 2).astype(float)
    result = run_vectorized(bars, target, Execution())
    request = decode_request(
        {
            "strategy": "sma_cross",
            "series": ["binance:BTC/USDC:1m"],
            "start": (T0 + timedelta(minutes=start)).isoformat(),
            "end": (T0 + timedelta(minutes=start + n)).isoformat(),
        }
    )
    valid = validate_request(request)
    used = [SeriesUsed("binance:BTC/USDC:1m", n, frame["ts"][0], frame["ts"][-1], sha256=sha)]
    run = BacktestRun.of(
        run_id, T0, request, valid.params, (valid.span.start, valid.span.end), used, result
    )
    eq = run.tables["curve"]["equity"].to_numpy()
    return RunCurve(run.meta, bars.ts, eq)


def test_same_span_runs_are_tested_on_every_bar() -> None:
    a, b = curve("a", 0, 500, 20), curve("b", 0, 500, 40)
    got = compare_runs([a, b])
    assert got.same_span
    assert got.same_data
    assert got.overlap_bars == 500
    assert got.notes == []
    ra = a.equity[1:] / a.equity[:-1] - 1
    rb = b.equity[1:] / b.equity[:-1] - 1
    want = jobson_korkie_memmel(ra, rb)
    assert got.tests[0].test.z == pytest.approx(want.z)
    sharpe = got.runs[1].metrics["sharpe"]
    assert got.runs[1].differences["sharpe"] == pytest.approx(
        sharpe - got.runs[0].metrics["sharpe"]
    )
    assert got.runs[0].differences["total_return"] == 0.0
    assert list(got.equity) == ["a", "b"]
    assert len(got.equity_ts) == 500


def test_different_spans_are_compared_on_the_overlap_and_say_so() -> None:
    a, b = curve("a", 0, 500, 20), curve("b", 200, 500, 20, sha="y")
    got = compare_runs([a, b], max_points=100)
    assert not got.same_span
    assert not got.same_data
    assert got.overlap_bars == 300
    assert got.overlap_start == T0 + timedelta(minutes=200)
    assert any("different spans" in n for n in got.notes)
    assert any("different data" in n for n in got.notes)
    assert len(got.equity_ts) == 100
    assert got.equity["a"][-1] is None  # a has no bar at the end of b's span
    assert got.equity["b"][0] is None
    assert got.tests[0].test.observations == 299


def test_disjoint_runs_have_no_test_and_bad_lists_are_refused() -> None:
    got = compare_runs([curve("a", 0, 100, 10), curve("b", 500, 100, 10)])
    assert got.tests == []
    assert got.overlap_bars == 0
    with pytest.raises(InvalidInput, match="at least two"):
        compare_runs([curve("a", 0, 100, 10)])
    a = curve("a", 0, 100, 10)
    with pytest.raises(InvalidInput, match="twice"):
        compare_runs([a, a])
