"""Run a validated request on loaded bars: pick the engine, add the benchmark."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import msgspec
import numpy as np
import polars as pl

from arbx.domain.backtest.arbitrage import (
    AlignedMarket,
    VenueSeries,
    execute_crosses,
    execute_pairs,
)
from arbx.domain.backtest.costs import fees_for
from arbx.domain.backtest.events import run_events
from arbx.domain.backtest.execution import BarArrays, Execution, assemble
from arbx.domain.backtest.metrics import Metrics
from arbx.domain.backtest.multi_events import HoldEqually, SeriesLeg, run_multi_events
from arbx.domain.backtest.request import ValidRequest
from arbx.domain.backtest.result import BacktestResult
from arbx.domain.backtest.sizing import Sizing
from arbx.domain.backtest.vectorized import run_vectorized, simulate
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey
from arbx.domain.strategies.arbitrage import (
    StatArbParams,
    ThresholdArbParams,
    cross_decisions,
    pair_decisions,
)
from arbx.domain.strategies.plugin import readonly


def check_bars(valid: ValidRequest, bars: Mapping[SeriesKey, pl.DataFrame]) -> None:
    """Raise ``InvalidInput`` when a series has no bars or a traded one fewer than the
    strategy's lookback (the one place this is checked: before a run is accepted, and again
    by ``run`` wherever it computes)."""
    need = valid.strategy.lookback(valid.params)
    for key in valid.all_keys():
        frame = bars.get(key)
        if frame is None or frame.is_empty():
            raise InvalidInput(f"series {key} has no data in {valid.span}", field="series")
        if key in valid.keys and frame.height < need:
            raise InvalidInput(
                f"series {key} has {frame.height} bars in the span but {valid.strategy.name}"
                f" needs at least {need} (its lookback)",
                field="series",
            )


def run(valid: ValidRequest, bars: Mapping[SeriesKey, pl.DataFrame]) -> BacktestResult:
    """Run ``valid`` on ``bars`` (canonical frames keyed by series, already cut to the span).

    Raises ``InvalidInput`` when a series has no bars or fewer than the strategy's lookback.
    """
    check_bars(valid, bars)
    arrays: dict[SeriesKey, BarArrays] = {
        key: BarArrays.from_frame(bars[key], key.timeframe, key.exchange.id, str(key.symbol))
        for key in valid.all_keys()
    }
    if valid.engine == "arbitrage":
        return _run_arbitrage(valid, arrays)
    main = arrays[valid.keys[0]]
    execution = valid.execution()
    if valid.strategy.events is not None and valid.strategy.max_series > 1:
        return _run_several(valid, arrays)
    if valid.strategy.events is not None:  # an event plugin: bars up to t, read-only
        strategy = valid.strategy.events(valid.params)
        result = run_events(readonly(main), execution, strategy=strategy, risk=valid.request.risk)
        return replace(result, benchmark=buy_and_hold(main, execution))
    assert valid.strategy.target is not None
    target = valid.strategy.target(main, valid.params)
    if valid.engine == "vectorized":
        result = run_vectorized(main, target, execution)
    else:
        result = run_events(main, execution, target=target, risk=valid.request.risk)
    return replace(result, benchmark=buy_and_hold(main, execution))


def buy_and_hold(bars: BarArrays, execution: Execution) -> Metrics:
    """The benchmark: all in at the first fill with the same costs and fill mode."""
    bench = Execution(
        capital=execution.capital,
        fees=execution.fees,
        slippage=execution.slippage,
        fill=execution.fill,
        lot_size=execution.lot_size,
        risk_free_rate=execution.risk_free_rate,
        min_notional=execution.min_notional,
        volume_window=execution.volume_window,
    )
    book = simulate(bars, np.ones(bars.n), bench)
    return assemble(
        "vectorized", bars, bench, book.equity, book.cash, book.position, book.trades
    ).metrics


def _run_several(valid: ValidRequest, arrays: Mapping[SeriesKey, BarArrays]) -> BacktestResult:
    """An event strategy over several series (read-only bars, each venue's execution); its
    benchmark holds every series in equal parts from its first bar."""
    assert valid.strategy.events is not None
    legs = [SeriesLeg(readonly(arrays[k]), valid.execution_for(k)) for k in valid.keys]
    strategy = valid.strategy.events(valid.params)
    result = run_multi_events(legs, strategy, risk=valid.request.risk)
    bench = [
        SeriesLeg(leg.bars, msgspec.structs.replace(leg.execution, sizing=Sizing())) for leg in legs
    ]
    benchmark = run_multi_events(bench, HoldEqually()).metrics
    return replace(result, benchmark=benchmark)


def _run_arbitrage(valid: ValidRequest, arrays: Mapping[SeriesKey, BarArrays]) -> BacktestResult:
    """The arbitrage engine; its benchmark (holding the opening inventory) comes with it."""
    fees, settings = valid.request.fees, valid.request.arbitrage
    venues = [
        VenueSeries(
            k.exchange.id,
            str(k.symbol),
            arrays[k],
            fees_for(k.exchange.id, fees),
            arrays[valid.conversions[k]] if k in valid.conversions else None,
        )
        for k in valid.keys
    ]
    market = AlignedMarket.align(
        venues,
        common_currency=valid.common_currency(),
        assume_parity=tuple(settings.assume_parity),
    )
    config = valid.arbitrage_config()
    if valid.strategy.decide is not None:  # a plugin: per-bar crosses
        return execute_crosses(market, config, valid.strategy.decide(market, valid.params))
    if isinstance(valid.params, ThresholdArbParams):
        decisions = cross_decisions(market, valid.params, config.slippage, config.volume_window)
        return execute_crosses(market, config, decisions)
    if isinstance(valid.params, StatArbParams):
        return execute_pairs(market, config, pair_decisions(market, valid.params))
    # pragma: no cover - the registry only holds these two arbitrage types
    raise InvalidInput(f"no arbitrage runner for {valid.strategy.name}", field="strategy")
