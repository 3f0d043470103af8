"""The no-look-ahead property over every registered strategy, plugins included."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from arbx.domain.backtest.request import decode_request, validate_request
from arbx.domain.backtest.runner import run
from arbx.domain.strategies import STRATEGIES, get_strategy
from arbx.domain.strategies.lookahead import check_strategy
from tests.builders import key, make_bars
from tests.support.plugins import EXAMPLES, plugins, write_plugin

START = datetime(2024, 1, 1, tzinfo=UTC)

ARBITRAGE_PLUGIN = """
    from typing import Annotated
    import numpy as np
    from arbx.strategy import Cross, Params, Range, arbitrage

    class GapParams(Params):
        gap_bps: Annotated[float, Range(ge=0.0)] = 5.0
        max_qty: Annotated[float, Range(gt=0.0)] = 0.1

    @arbitrage(params=GapParams, max_qty=lambda p: p.max_qty)
    def widest_gap(market, p):
        "Buy the cheapest venue and sell the dearest when they differ by gap_bps."
        now = market.close[:, -1]
        if not np.all(np.isfinite(now)):
            return None
        lo, hi = int(np.argmin(now)), int(np.argmax(now))
        if now[hi] / now[lo] - 1.0 > p.gap_bps / 1e4:
            return Cross(buy=lo, sell=hi)
        return None
"""

PEEKING_PLUGINS = {
    "tomorrow": """
        import numpy as np
        from arbx.strategy import signal

        @signal
        def tomorrow(bars, p):
            "Long when the NEXT close is higher: look-ahead."
            nxt = np.roll(bars.close, -1)
            return (nxt > bars.close).astype(float)
    """,
    "normalized": """
        import numpy as np
        from arbx.strategy import signal

        @signal
        def normalized(bars, p):
            "Long above the whole run's median: a whole-run statistic."
            return (bars.close > np.median(bars.close)).astype(float)
    """,
}


@pytest.fixture
def everything(tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "arb"
    write_plugin(folder, "widest_gap", ARBITRAGE_PLUGIN)
    with plugins(EXAMPLES, folder) as report:
        assert report.failures == {}
        yield sorted(STRATEGIES)


def test_every_registered_strategy_passes_plugins_included(everything: list[str]) -> None:
    assert {"bollinger_breakout", "StopAndReverse", "widest_gap", "sma_cross"} <= set(everything)
    for name in everything:
        report = check_strategy(get_strategy(name))
        assert report.ok, (name, report.violations, report.error)
        assert report.decisions > 0, f"{name} decided nothing on the test bars"
        assert len(report.cuts) >= 4


@pytest.mark.parametrize("name", sorted(PEEKING_PLUGINS))
def test_a_strategy_that_peeks_is_caught(tmp_path: Path, name: str) -> None:
    write_plugin(tmp_path, name, PEEKING_PLUGINS[name])
    with plugins(tmp_path):
        report = check_strategy(get_strategy(name))
    assert not report.ok
    assert report.violations
    assert "changed when only bars after" in report.violations[0]


def test_an_arbitrage_plugin_runs_on_the_arbitrage_engine(everything: list[str]) -> None:
    bars = {
        key("binance:BTC/USDC:1m"): make_bars(400, START, volatility=0.01),
        key("coinbase:BTC/USDC:1m"): make_bars(400, START, volatility=0.01, seed=9),
    }
    request = decode_request(
        {
            "strategy": "widest_gap",
            "params": {"gap_bps": 30.0, "max_qty": 1.0},
            "series": [str(k) for k in bars],
            "start": "2024-01-01",
            "end": "2024-01-02",
        }
    )
    valid = validate_request(request)
    assert valid.engine == "arbitrage"
    result = run(valid, bars)
    assert result.metrics.trade_count > 0
    legs = result.trades.filter(result.trades["purpose"] == "arbitrage")
    assert legs.height > 0
    assert legs["qty"].max() <= 1.0 + 1e-12
