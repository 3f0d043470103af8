"""An arbitrage request end to end in the domain: runner, benchmark, stored run fields."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import numpy as np
import polars as pl
import pytest

from arbx.domain.backtest.request import decode_request, validate_request
from arbx.domain.backtest.result import OPPORTUNITY_SCHEMA
from arbx.domain.backtest.run import TABLE_NAMES, BacktestRun, RunMeta, SeriesUsed
from arbx.domain.backtest.runner import run
from arbx.domain.market import SeriesKey

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def frame(close: np.ndarray, volume: float = 5.0) -> pl.DataFrame:
    n = close.size
    start = int(T0.timestamp() * 1000)
    ts = pl.Series("ts", start + 60_000 * np.arange(n)).cast(pl.Datetime("ms", "UTC"))
    return pl.DataFrame(
        {
            "ts": ts,
            "open": close,
            "high": close,
            "low": close,
            "close": close,
            "volume": np.full(n, volume),
        }
    )


def svb_like(n: int = 300) -> dict[SeriesKey, pl.DataFrame]:
    rng = np.random.default_rng(7)
    usd = 20_000 * np.exp(np.cumsum(rng.normal(0.0005, 0.001, n)))  # a rally
    usdc_rate = np.clip(1 - 0.0005 * np.arange(n), 0.88, 1.0)  # a de-peg
    usdc = usd / usdc_rate * np.exp(rng.normal(0, 0.0015, n))
    return {
        SeriesKey.parse("kraken:BTC/USDC:1m"): frame(usdc),
        SeriesKey.parse("kraken:BTC/USD:1m"): frame(usd),
        SeriesKey.parse("kraken:USDC/USD:1m"): frame(usdc_rate, 1e6),
    }


REQUEST = {
    "strategy": "threshold_arb",
    "params": {"threshold_bps": 5.0, "max_qty": 0.2},
    "series": ["kraken:BTC/USDC:1m", "kraken:BTC/USD:1m"],
    "conversions": {"kraken:BTC/USDC:1m": "kraken:USDC/USD:1m"},
    "start": "2024-01-01",
    "end": "2024-01-02",
    "capital": 100_000.0,
    "fees": {"kraken": {"taker_bps": 2.0}},
    "arbitrage": {"transfer_delay_bars": 10, "fx_cost_bps": 5.0},
}


def stored(request: dict[str, object], bars: dict[SeriesKey, pl.DataFrame]) -> BacktestRun:
    req = decode_request(request)
    valid = validate_request(req)
    result = run(valid, bars)
    used = [
        SeriesUsed(str(k), bars[k].height, bars[k]["ts"][0], bars[k]["ts"][-1])
        for k in valid.all_keys()
    ]
    return BacktestRun.of("r1", T0, req, valid.params, (T0, T0), used, result)


def test_an_arbitrage_run_carries_currency_attribution_benchmark_and_opportunities() -> None:
    bars = svb_like()
    saved = stored(REQUEST, bars)
    meta = saved.meta
    assert meta.common_currency == "USD"
    assert meta.attribution is not None
    total = meta.metrics.final_equity - meta.capital  # type: ignore[operator]
    assert meta.attribution.total_pnl == pytest.approx(total)
    assert sum(meta.attribution.parts().values()) == pytest.approx(total, abs=1e-6)
    # the rally is in the inventory, not in the spread
    assert meta.attribution.inventory_revaluation > abs(meta.attribution.spread)
    # the benchmark holds the opening inventory: no trade, not buy-and-hold of one series
    bench = meta.benchmark
    assert bench is not None
    assert bench.trade_count == 0
    bal = saved.tables["balances"]
    last = {k: f[-1, "close"] for k, f in ((str(k), f) for k, f in bars.items())}
    rate = last["kraken:USDC/USD:1m"]
    held = (
        bal["kraken:BTC/USDC:base"][0] * last["kraken:BTC/USDC:1m"] * rate
        + bal["kraken:BTC/USDC:quote"][0] * rate
        + bal["kraken:BTC/USD:base"][0] * last["kraken:BTC/USD:1m"]
        + bal["kraken:BTC/USD:quote"][0]
    )
    assert bench.final_equity == pytest.approx(held, rel=1e-12)
    assert meta.excess_pnl == pytest.approx(meta.metrics.final_equity - held)  # type: ignore[operator]
    assert meta.excess_return == pytest.approx(
        meta.metrics.total_return - bench.total_return  # type: ignore[operator]
    )
    opportunities = saved.tables["opportunities"]
    assert opportunities.schema == pl.Schema(OPPORTUNITY_SCHEMA)
    assert opportunities.height == meta.opportunities.grouped  # type: ignore[union-attr]
    assert meta.opportunities is not None
    assert meta.opportunities.seen == opportunities["duration_bars"].sum()
    # the meta survives its JSON round trip with every new field
    again = msgspec.json.decode(msgspec.json.encode(meta), type=RunMeta)
    assert again == meta


def test_the_drawdown_kill_switch_is_honoured_and_noted() -> None:
    """BTC falls 0.1 % a minute (USDC at par): without the switch the inventory rides the
    whole fall (26 %); with it, trading stops and the base is sold near the limit."""
    n = 300
    rng = np.random.default_rng(1)
    path = 20_000 * np.exp(-0.001 * np.arange(n))
    falling = {
        SeriesKey.parse("kraken:BTC/USDC:1m"): frame(path * np.exp(rng.normal(0, 5e-4, n))),
        SeriesKey.parse("kraken:BTC/USD:1m"): frame(path),
        SeriesKey.parse("kraken:USDC/USD:1m"): frame(np.ones(n), 1e6),
    }
    free = stored(REQUEST, falling)
    assert free.meta.metrics.max_drawdown is not None
    assert free.meta.metrics.max_drawdown > 0.1
    saved = stored({**REQUEST, "risk": {"max_drawdown": 0.02}}, falling)
    assert saved.meta.metrics.max_drawdown is not None
    assert saved.meta.metrics.max_drawdown < 0.03
    assert any("max_drawdown" in note for note in saved.meta.notes)


def test_a_signal_run_gets_its_excess_over_buy_and_hold() -> None:
    bars = {SeriesKey.parse("kraken:BTC/USD:1m"): svb_like()[SeriesKey.parse("kraken:BTC/USD:1m")]}
    saved = stored(
        {
            "strategy": "sma_cross",
            "params": {"fast": 5, "slow": 20},
            "series": ["kraken:BTC/USD:1m"],
            "start": "2024-01-01",
            "end": "2024-01-02",
        },
        bars,
    )
    meta = saved.meta
    assert meta.benchmark is not None
    assert meta.excess_return == pytest.approx(
        meta.metrics.total_return - meta.benchmark.total_return  # type: ignore[operator]
    )
    assert meta.excess_pnl == pytest.approx(
        meta.metrics.final_equity - meta.benchmark.final_equity  # type: ignore[operator]
    )
    assert meta.attribution is None
    assert saved.tables["opportunities"].is_empty()


def test_a_run_stored_before_the_opportunities_table_reads_back_with_it_empty() -> None:
    saved = stored(REQUEST, svb_like())
    old = {k: v for k, v in saved.tables.items() if k != "opportunities"}
    back = BacktestRun(saved.meta, old)  # what a store built from its old rows
    assert set(back.tables) == set(TABLE_NAMES)
    assert back.tables["opportunities"].is_empty()
    # and an old meta without the new fields still decodes
    raw = msgspec.to_builtins(saved.meta)
    for name in ("excess_return", "excess_pnl", "common_currency", "attribution"):
        raw.pop(name)
    old_meta = msgspec.convert(raw, RunMeta)
    assert old_meta.attribution is None
    assert old_meta.common_currency is None
