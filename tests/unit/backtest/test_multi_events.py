"""The event engine over several series: aligned, no look-ahead, per-series books and fees."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from arbx.domain.backtest.costs import FeeSchedule
from arbx.domain.backtest.events import run_events
from arbx.domain.backtest.execution import BarArrays, Execution
from arbx.domain.backtest.multi_events import MultiContext, SeriesLeg, run_multi_events
from arbx.domain.backtest.request import decode_request, validate_request
from arbx.domain.backtest.runner import run
from arbx.domain.errors import InvalidInput
from arbx.domain.strategies import get_strategy
from arbx.domain.strategies.lookahead import check_strategy, synthetic_bars
from arbx.domain.strategies.plugin import readonly
from tests.builders import make_bars
from tests.support.plugins import EXAMPLES, plugins, write_plugin

START = datetime(2024, 1, 1, tzinfo=UTC)
EX = Execution(fees=FeeSchedule(maker_bps=2.0, taker_bps=10.0))


class Script:
    """Sends the same orders on one series' context (single engine) or on series 0."""

    def __init__(self, multi: bool) -> None:
        self.multi = multi

    def on_bar(self, ctx: Any) -> None:
        t = ctx.t
        args: tuple[Any, ...] = (0,) if self.multi else ()
        close = float((ctx.history(0) if self.multi else ctx.history()).close[-1])
        if t == 10:
            ctx.buy(*args, fraction=0.5)
        elif t == 20:
            ctx.sell(*args)
        elif t == 30:
            ctx.buy(*args, kind="limit", limit=close * 0.999)
        elif t == 60:
            ctx.sell(*args, kind="stop", stop=close * 0.99)


def _gappy(bars: BarArrays, drop: list[int], venue: str) -> BarArrays:
    keep = np.ones(bars.n, dtype=bool)
    keep[drop] = False
    return BarArrays(
        bars.ts[keep],
        bars.open[keep],
        bars.high[keep],
        bars.low[keep],
        bars.close[keep],
        bars.volume[keep],
        bars.bar_ms,
        venue,
        bars.symbol,
    )


def test_trading_one_series_of_two_is_the_one_series_engine() -> None:
    a = synthetic_bars(300, 3)
    a = BarArrays(a.ts, a.open, a.high, a.low, a.close, a.volume, a.bar_ms, "va", "BTC/USDC")
    b = _gappy(synthetic_bars(300, 4), [5, 6, 50], "vb")
    one = run_events(a, EX, strategy=Script(multi=False))
    two = run_multi_events([SeriesLeg(a, EX), SeriesLeg(b, EX)], Script(multi=True))
    assert np.array_equal(one.curve["equity"].to_numpy(), two.curve["equity"].to_numpy())
    assert one.fills.drop("fill_id").equals(two.fills.drop("fill_id", "symbol"))
    assert one.orders.equals(two.orders.drop("symbol"))
    assert one.trades.equals(two.trades)
    assert one.metrics.trade_count == two.metrics.trade_count == 2


class Recorder:
    """Buys series 1 at every time series 0 has a bar but series 1 does not."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, int, bool]] = []
        self.fills: list[Any] = []

    def on_fill(self, ctx: MultiContext, fill: Any) -> None:
        self.fills.append((ctx.t, fill))

    def on_bar(self, ctx: MultiContext) -> None:
        h0, h1 = ctx.history(0), ctx.history("vb:BTC/USDC")
        self.seen.append((ctx.ts, int(h0.ts[-1]), int(h1.ts[-1]), ctx.has_bar(1)))
        if ctx.t == 4:
            ctx.buy("vb:BTC/USDC:1m", 1.0)
        if ctx.t == 8:
            ctx.sell(1)


def test_each_series_is_seen_up_to_now_and_orders_fill_at_their_series_next_bar() -> None:
    a = synthetic_bars(40, 5)
    a = BarArrays(a.ts, a.open, a.high, a.low, a.close, a.volume, a.bar_ms, "va", "BTC/USDC")
    b = _gappy(synthetic_bars(40, 6, scale=50.0), [5, 6, 7], "vb")
    fees_b = Execution(fees=FeeSchedule(taker_bps=30.0))
    rec = Recorder()
    result = run_multi_events([SeriesLeg(readonly(a), EX), SeriesLeg(readonly(b), fees_b)], rec)
    for now, last0, last1, has1 in rec.seen:
        assert last0 <= now
        assert last1 <= now
        assert (last1 == now) == has1
    assert [row[3] for row in rec.seen[4:9]] == [True, False, False, False, True]
    fills = result.fills
    assert fills["symbol"].to_list() == ["BTC/USDC", "BTC/USDC"]
    assert fills["venue"].to_list() == ["vb", "vb"]
    assert fills["bar"].to_list() == [8, 9]  # b has no bar at 5, 6, 7: the buy waits for 8
    assert fills["price"][0] == b.open[5]  # b's 6th bar is the one at time 8
    assert fills["fee"][0] == pytest.approx(fills["price"][0] * 30.0 / 1e4)  # b's venue fee
    assert [(t, f.series, f.bar) for t, f in rec.fills] == [
        (8, "vb:BTC/USDC", 8),
        (9, "vb:BTC/USDC", 9),
    ]
    assert result.trades["venue"].to_list() == ["vb"]
    assert result.trades["entry_bar"].to_list() == [8]
    bal = result.balances
    assert bal is not None
    assert bal["vb:BTC/USDC:position"].to_list()[8] == 1.0
    assert bal["va:BTC/USDC:position"].sum() == 0.0
    equity = result.curve["equity"].to_numpy()
    assert equity[-1] == pytest.approx(result.metrics.final_equity)
    assert result.curve["cash"][-1] == pytest.approx(10_000 + float(result.trades["pnl"][0]))


def test_names_of_series_that_are_not_in_the_run_fail_in_the_strategy() -> None:
    class Wrong:
        def on_bar(self, ctx: MultiContext) -> None:
            ctx.buy("nowhere:BTC/USDC")

    a = synthetic_bars(10, 1)
    with pytest.raises(KeyError, match="no series 'nowhere:BTC/USDC'.*synthetic:BTC/USDC"):
        run_multi_events([SeriesLeg(a, EX), SeriesLeg(_gappy(a, [], "other"), EX)], Wrong())


def _request(strategy: str, series: list[str], **extra: Any) -> Any:
    return decode_request(
        {"strategy": strategy, "series": series, "start": "2024-01-01", "end": "2024-01-02"} | extra
    )


def test_the_example_pairs_plugin_runs_over_two_venues_with_a_benchmark() -> None:
    with plugins(EXAMPLES):
        series = ["binance:BTC/USDC:1m", "kraken:BTC/USDC:1m"]
        valid = validate_request(
            _request("PairsReversion", series, params={"window": 30, "entry_z": 1.5})
        )
        assert valid.engine == "event"
        assert valid.several_series
        a = make_bars(1200, START, volatility=0.01)
        b = a.with_columns(pl.col(c) * 1.001 for c in ("open", "high", "low", "close"))
        b = b.filter(pl.int_range(pl.len()) % 13 != 5)
        result = run(valid, dict(zip(valid.keys, [a, b], strict=True)))
        assert result.metrics.trade_count > 2
        assert set(result.trades["venue"].to_list()) == {"binance", "kraken"}
        assert result.benchmark is not None
        assert result.benchmark.trade_count == 0
        assert result.benchmark.open_trades == 2
        fees = dict(
            zip(
                result.fills["venue"],
                result.fills["fee"] / result.fills["price"] / result.fills["qty"],
                strict=False,
            )
        )
        assert fees["binance"] != fees["kraken"]  # each venue's own fee
        report = check_strategy(get_strategy("PairsReversion"))
        assert report.ok
        assert report.decisions > 0


def test_several_series_requests_refuse_what_they_cannot_honour() -> None:
    with plugins(EXAMPLES):
        for series, extra, field in (
            (["binance:BTC/USDC:1m", "kraken:BTC/USD:1m"], {}, "series"),
            (["binance:BTC/USDC:1m", "binance:ETH/USDC:1m"], {"lot_size": 0.01}, "lot_size"),
            (["binance:BTC/USDC:1m"], {}, "series"),
            (
                ["binance:BTC/USDC:1m", "kraken:BTC/USDC:1m"],
                {"conversions": {"kraken:BTC/USDC:1m": "kraken:USDC/USD:1m"}},
                "conversions",
            ),
        ):
            with pytest.raises(InvalidInput) as caught:
                validate_request(_request("PairsReversion", series, **extra))
            assert caught.value.field == field, (series, extra, caught.value.message)
        with pytest.raises(InvalidInput, match="takes 1 series") as one:
            validate_request(
                _request("StopAndReverse", ["binance:BTC/USDC:1m", "kraken:BTC/USDC:1m"])
            )
        assert one.value.field == "series"
        ok = validate_request(
            _request("PairsReversion", ["binance:BTC/USDC:1m", "binance:ETH/USDC:1m"])
        )
        assert ok.execution_for(ok.keys[1]).lot_size != ok.execution_for(ok.keys[0]).lot_size


def test_the_check_catches_a_several_series_plugin_that_peeks(tmp_path: Path) -> None:
    write_plugin(
        tmp_path,
        "peeks",
        """
        from arbx.strategy import event

        @event(min_series=2, max_series=3)
        class PeeksAtTheOther:
            def __init__(self, p):
                pass

            def on_bar(self, ctx):
                other = ctx.history(1).close
                whole = other.base  # the array behind the view: every bar, later ones too
                if other.size < whole.size and whole[other.size] > other[-1]:
                    if ctx.position(0) == 0 and not ctx.open_orders:
                        ctx.buy(0)
                elif ctx.position(0) > 0:
                    ctx.sell(0)
        """,
    )
    with plugins(tmp_path):
        report = check_strategy(get_strategy("PeeksAtTheOther"))
        assert not report.ok
        assert "changed when only later bars changed" in report.violations[0]
