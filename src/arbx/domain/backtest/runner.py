"""Run a validated request on loaded bars: pick the engine, add the benchmark."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import msgspec
import numpy as np
import polars as pl

from arbx.domain.backtest.arbitrage import (
    AlignedMarket,
    RecordedBooks,
    VenueSeries,
    execute_crosses,
    execute_pairs,
)
from arbx.domain.backtest.book_taker import RecordedTakerBooks, SyntheticTakerBooks, TakerBooks
from arbx.domain.backtest.costs import fees_for
from arbx.domain.backtest.events import run_events
from arbx.domain.backtest.execution import BarArrays, Execution, assemble
from arbx.domain.backtest.metrics import Metrics
from arbx.domain.backtest.multi_events import HoldEqually, SeriesLeg, run_multi_events
from arbx.domain.backtest.recorded import (
    RecordedKind,
    check_recorded,
    recorded_updates,
    replays,
)
from arbx.domain.backtest.request import ValidRequest
from arbx.domain.backtest.result import BacktestResult
from arbx.domain.backtest.sizing import Sizing
from arbx.domain.backtest.vectorized import run_vectorized, simulate
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey
from arbx.domain.orderbook.book import BookDiff, BookSnapshot
from arbx.domain.orderbook.tape import BookReplay
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


def check_books(valid: ValidRequest, books: Mapping[SeriesKey, pl.DataFrame] | None) -> None:
    """Raise ``InvalidInput`` (field ``execution``) unless a recorded execution has a usable
    recorded stream for every traded series (``recorded.check_recorded``)."""
    if not valid.recorded:
        return
    kind = _recorded_kind(valid)
    for key in valid.keys:
        frame = None if books is None else books.get(key)
        label = f"{key.exchange.id}:{key.symbol}"
        if frame is None:
            raise InvalidInput(
                f"execution {kind!r}: no recorded stream was read for {label}",
                field="execution",
            )
        check_recorded(frame, label, kind)


def _recorded_kind(valid: ValidRequest) -> RecordedKind:
    return "recorded_quotes" if valid.request.execution == "recorded_quotes" else "recorded_book"


def _recorded_updates(
    valid: ValidRequest, books: Mapping[SeriesKey, pl.DataFrame] | None
) -> dict[str, list[BookSnapshot | BookDiff]]:
    """Per traded series label ("venue:BASE/QUOTE"), its recorded updates (a recorded
    execution; {} otherwise)."""
    if not valid.recorded:
        return {}
    check_books(valid, books)
    assert books is not None
    kind = _recorded_kind(valid)
    out = {}
    for key in valid.keys:
        label = f"{key.exchange.id}:{key.symbol}"
        out[label] = recorded_updates(books[key], label, kind)
    return out


def run(
    valid: ValidRequest,
    bars: Mapping[SeriesKey, pl.DataFrame],
    books: Mapping[SeriesKey, pl.DataFrame] | None = None,
) -> BacktestResult:
    """Run ``valid`` on ``bars`` (canonical frames keyed by series, already cut to the span)
    and, for ``execution`` "recorded_book" / "recorded_quotes", on ``books``: each traded
    series' stored book or quote frame over the span (``BOOK_SCHEMA`` / ``QUOTE_SCHEMA``).

    Raises ``InvalidInput`` when a series has no bars or fewer than the strategy's lookback,
    or a recorded execution has no recorded stream for a traded series.
    """
    check_bars(valid, bars)
    updates = _recorded_updates(valid, books)
    arrays: dict[SeriesKey, BarArrays] = {
        key: BarArrays.from_frame(bars[key], key.timeframe, key.exchange.id, str(key.symbol))
        for key in valid.all_keys()
    }
    if valid.engine == "arbitrage":
        return _run_arbitrage(valid, arrays, updates)
    main = arrays[valid.keys[0]]
    execution = valid.execution()
    if valid.strategy.events is not None and valid.strategy.max_series > 1:
        return _run_several(valid, arrays)
    taker = _taker_books(valid, main, execution, updates)
    if valid.strategy.events is not None:  # an event plugin: bars up to t, read-only
        strategy = valid.strategy.events(valid.params)
        result = run_events(
            readonly(main), execution, strategy=strategy, risk=valid.request.risk, books=taker()
        )
        return replace(result, benchmark=_benchmark(main, execution, taker))
    assert valid.strategy.target is not None
    target = valid.strategy.target(main, valid.params)
    if valid.engine == "vectorized":
        result = run_vectorized(main, target, execution)
    else:
        result = run_events(main, execution, target=target, risk=valid.request.risk, books=taker())
    return replace(result, benchmark=_benchmark(main, execution, taker))


def _taker_books(
    valid: ValidRequest,
    bars: BarArrays,
    execution: Execution,
    updates: Mapping[str, list[BookSnapshot | BookDiff]],
) -> Callable[[], TakerBooks | None]:
    """A maker of fresh books for one pass of the event engine (a replay only moves
    forward, so the run and its benchmark each get their own); None for bar execution."""
    request = valid.request
    if request.execution == "bars":
        return lambda: None
    if request.execution == "synthetic_book":
        model = msgspec.structs.replace(request.book, latency_ms=valid.latency_ms)
        return lambda: SyntheticTakerBooks(bars, model, execution)
    label = f"{bars.venue}:{bars.symbol}"
    ups, kind, latency = updates[label], _recorded_kind(valid), valid.latency_ms
    return lambda: RecordedTakerBooks(bars, BookReplay(label, ups), execution, latency, kind)


def _benchmark(
    bars: BarArrays, execution: Execution, taker: Callable[[], TakerBooks | None]
) -> Metrics:
    """Buy and hold with the run's costs; on books, bought by walking the same books."""
    books = taker()
    if books is None:
        return buy_and_hold(bars, execution)
    return run_events(bars, execution, target=np.ones(bars.n), books=books).metrics


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


def _run_arbitrage(
    valid: ValidRequest,
    arrays: Mapping[SeriesKey, BarArrays],
    updates: Mapping[str, list[BookSnapshot | BookDiff]],
) -> BacktestResult:
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
    recorded = RecordedBooks(replays(updates), _recorded_kind(valid)) if valid.recorded else None
    if valid.strategy.decide is not None:  # a plugin: per-bar crosses
        decided = valid.strategy.decide(market, valid.params)
        return execute_crosses(market, config, decided, recorded)
    if isinstance(valid.params, ThresholdArbParams):
        decisions = cross_decisions(market, valid.params, config.slippage, config.volume_window)
        return execute_crosses(market, config, decisions, recorded)
    if isinstance(valid.params, StatArbParams):
        return execute_pairs(market, config, pair_decisions(market, valid.params), recorded)
    # pragma: no cover - the registry only holds these two arbitrage types
    raise InvalidInput(f"no arbitrage runner for {valid.strategy.name}", field="strategy")
