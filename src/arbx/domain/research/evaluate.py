"""Evaluate trials of a study on loaded bars: pure computation, picklable in and out.

Signal strategies with a broadcast ``grid`` kernel (SMA cross) compute the targets of a
whole batch of parameter sets in one call, then simulate each row on the vectorized engine
(the same ``simulate`` a single run uses, so a trial's metrics are those of the run it
becomes when promoted). Every other strategy, arbitrage included, runs the normal engine
once per trial. A trial the engine refuses (too few bars for its lookback, a rule between
parameters) is a failed trial with the reason; the study goes on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import msgspec
import numpy as np
import polars as pl

from arbx.domain.backtest.execution import BarArrays
from arbx.domain.backtest.kernels import drawdown
from arbx.domain.backtest.metrics import (
    YEAR_MS,
    Metrics,
    _cagr,
    _num,
    bar_returns,
    drawdown_stats,
    span_ms,
)
from arbx.domain.backtest.request import BacktestRequest, ValidRequest, validate_request
from arbx.domain.backtest.runner import buy_and_hold, check_bars
from arbx.domain.backtest.runner import run as run_engine
from arbx.domain.backtest.vectorized import decision_fractions, simulate
from arbx.domain.errors import ArbxError
from arbx.domain.market import BAR_SCHEMA, SeriesKey
from arbx.domain.market.bars import BAR_COLUMNS
from arbx.domain.research.objective import Objective, TrialMetrics
from arbx.domain.research.study import Trial, bucket_returns
from arbx.domain.strategies import parse_params


@dataclass(frozen=True)
class StudyData:
    """What every trial of a study reads: the base request (the effective one; params are
    the space's fixed values) and the bars, cut to the span. Shipped to a worker once."""

    study_id: str
    request: BacktestRequest
    bars: dict[SeriesKey, pl.DataFrame]
    objective: Objective
    extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def arrays(self) -> dict[SeriesKey, BarArrays]:
        return {
            key: BarArrays.from_frame(frame, key.timeframe, key.exchange.id, str(key.symbol))
            for key, frame in self.bars.items()
        }

    def valid(self, params: dict[str, Any]) -> ValidRequest:
        return validate_request(msgspec.structs.replace(self.request, params=params))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as numpy columns (canonical bar frames: the ``BarArrays``), not as
        polars frames: numpy arrays travel as pickle protocol 5 out-of-band buffers, which
        a process executor maps into its workers without a copy; the frames are rebuilt
        over the same memory there."""
        columns: dict[SeriesKey, BarArrays | pl.DataFrame] = {}
        for key, frame in self.bars.items():
            canonical = (
                frame.columns == list(BAR_COLUMNS)
                and frame.null_count().sum_horizontal().item() == 0
            )
            columns[key] = self.arrays[key] if canonical else frame
        return (_rebuilt, (self.study_id, self.request, columns, self.objective, self.extra))


def _rebuilt(
    study_id: str,
    request: BacktestRequest,
    columns: dict[SeriesKey, BarArrays | pl.DataFrame],
    objective: Objective,
    extra: dict[str, Any],
) -> StudyData:
    bars: dict[SeriesKey, pl.DataFrame] = {}
    arrays: dict[SeriesKey, BarArrays] = {}
    for key, got in columns.items():
        if isinstance(got, pl.DataFrame):
            bars[key] = got
            continue
        arrays[key] = got
        bars[key] = pl.DataFrame(
            {
                "ts": pl.Series("ts", got.ts, dtype=pl.Int64).cast(BAR_SCHEMA["ts"]),
                "open": pl.Series("open", got.open),
                "high": pl.Series("high", got.high),
                "low": pl.Series("low", got.low),
                "close": pl.Series("close", got.close),
                "volume": pl.Series("volume", got.volume),
            }
        )
    data = StudyData(study_id, request, bars, objective, extra)
    if len(arrays) == len(bars):  # the arrays over the shipped memory, not copies
        data.__dict__["arrays"] = arrays
    return data


Point = tuple[int, int, dict[str, Any]]  # (trial number, seed, params)


def trial_figures(
    equity: np.ndarray, capital: float, bar_ms: int, risk_free_rate: float, ts: np.ndarray
) -> Metrics:
    """The figures a trial keeps, by ``compute_metrics``'s formulas (the same floats as the
    run the trial becomes; the tests compare them) without the ones it does not keep (tail
    risk, trade statistics): a grid row costs a few array passes."""
    n = int(equity.size)
    if n == 0:
        return Metrics(bars=0, final_equity=capital)
    years = span_ms(n, bar_ms, ts) / YEAR_MS
    ppy = n / years
    r = bar_returns(equity, capital)
    final = float(equity[-1])
    cagr = _cagr(final / capital, 1.0 / years)
    rf_p = risk_free_rate / ppy
    std = float(np.std(r, ddof=1)) if n >= 2 else math.nan
    excess = float(np.mean(r)) - rf_p
    sharpe = excess / std * math.sqrt(ppy) if std > 0 else math.nan
    downside = float(np.sqrt(np.mean(np.minimum(r - rf_p, 0.0) ** 2)))
    sortino = excess / downside * math.sqrt(ppy) if downside > 0 else math.nan
    mdd, _ = drawdown_stats(equity, capital, drawdown(equity, capital))
    calmar = cagr / mdd if mdd > 0 else math.nan
    return Metrics(
        total_return=_num(final / capital - 1.0),
        cagr=_num(cagr),
        sharpe=_num(sharpe),
        sortino=_num(sortino),
        calmar=_num(calmar),
        max_drawdown=_num(mdd),
        final_equity=_num(final),
        bars=n,
    )


def trial_metrics(metrics: Metrics, benchmark: Metrics | None, capital: float) -> TrialMetrics:
    excess = None
    if benchmark is not None and benchmark.total_return is not None:
        excess = (
            None if metrics.total_return is None else metrics.total_return - benchmark.total_return
        )
    final = metrics.final_equity
    return TrialMetrics(
        sharpe=metrics.sharpe,
        sortino=metrics.sortino,
        calmar=metrics.calmar,
        total_return=metrics.total_return,
        net_pnl=None if final is None else final - capital,
        excess_return=excess,
        max_drawdown=metrics.max_drawdown,
        trade_count=metrics.trade_count,
        final_equity=final,
        bars=metrics.bars,
    )


def _failed(data: StudyData, point: Point, error: str, seconds: float = 0.0) -> Trial:
    number, seed, params = point
    return Trial(
        study_id=data.study_id,
        number=number,
        params=params,
        seed=seed,
        status="failed",
        error=error,
        seconds=seconds,
    )


def _done(
    data: StudyData,
    point: Point,
    metrics: TrialMetrics,
    equity: np.ndarray,
    capital: float,
    seconds: float,
) -> Trial:
    number, seed, params = point
    return Trial(
        study_id=data.study_id,
        number=number,
        params=params,
        seed=seed,
        status="done",
        metrics=metrics,
        value=data.objective.value(metrics),
        returns=bucket_returns(equity, capital),
        seconds=seconds,
    )


def evaluate(data: StudyData, points: Sequence[Point]) -> list[Trial]:
    """Trials of ``points`` in order (numbers and seeds as given)."""
    if not points:
        return []
    valid: list[ValidRequest | None] = []
    trials: dict[int, Trial] = {}
    for point in points:
        try:
            v = data.valid(point[2])
            check_bars(v, data.bars)
            valid.append(v)
        except ArbxError as exc:
            valid.append(None)
            trials[point[0]] = _failed(data, point, exc.message)
    ok = [(p, v) for p, v in zip(points, valid, strict=True) if v is not None]
    if ok:
        first = ok[0][1]
        if first.strategy.grid is not None and first.engine == "vectorized":
            trials.update(_grid(data, ok))
        else:
            for point, v in ok:
                trials[point[0]] = _single(data, point, v)
    return [trials[p[0]] for p in points]


def _single(data: StudyData, point: Point, valid: ValidRequest) -> Trial:
    started = time.perf_counter()
    try:
        result = run_engine(valid, data.bars)
    except ArbxError as exc:
        return _failed(data, point, exc.message, time.perf_counter() - started)
    capital = valid.request.capital
    metrics = trial_metrics(result.metrics, result.benchmark, capital)
    equity = result.curve["equity"].to_numpy() if result.curve.height else np.zeros(0)
    return _done(data, point, metrics, equity, capital, time.perf_counter() - started)


def _grid(data: StudyData, ok: list[tuple[Point, ValidRequest]]) -> dict[int, Trial]:
    started = time.perf_counter()
    first = ok[0][1]
    main = data.arrays[first.keys[0]]
    execution = first.execution()
    assert first.strategy.grid is not None
    params = [parse_params(first.strategy, p[2]) for p, _ in ok]
    targets = first.strategy.grid(main, params)
    fractions = decision_fractions(main, execution)
    bench = data.extra.get("benchmark")
    if bench is None:
        bench = buy_and_hold(main, execution)
    per_trial = (time.perf_counter() - started) / len(ok)
    out: dict[int, Trial] = {}
    capital = execution.capital
    for row, (point, _) in enumerate(ok):
        t0 = time.perf_counter()
        book = simulate(main, np.asarray(targets[row], dtype=np.float64), execution, fractions)
        closed = int(np.sum(np.asarray(book.trades.exit_bar, dtype=np.int64) >= 0))
        m = trial_figures(book.equity, capital, main.bar_ms, execution.risk_free_rate, main.ts)
        m = msgspec.structs.replace(m, trade_count=closed)
        metrics = trial_metrics(m, bench, capital)
        seconds = per_trial + time.perf_counter() - t0
        out[point[0]] = _done(data, point, metrics, book.equity, capital, seconds)
    return out
