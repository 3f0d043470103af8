"""A stored backtest run: the request that made it, what data it read, and what came out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import msgspec
import polars as pl

from arbx.domain.backtest.metrics import Metrics
from arbx.domain.backtest.request import BacktestRequest
from arbx.domain.backtest.result import Attribution, BacktestResult, Opportunities

TableName = Literal["curve", "trades", "orders", "fills", "balances", "opportunities"]
TABLE_NAMES: tuple[TableName, ...] = (
    "curve",
    "trades",
    "orders",
    "fills",
    "balances",
    "opportunities",
)


class SeriesUsed(msgspec.Struct, frozen=True):
    """One series a run read: its key, row count and first/last bar in the span; with the
    data's quality when known: ``gaps`` (runs of empty grid slots between its first and last
    bar), ``bars_missing`` (their slots) and ``quality_score`` (0..1, see domain.quality)."""

    series: str
    rows: int
    first_ts: datetime
    last_ts: datetime
    gaps: int | None = None
    bars_missing: int | None = None
    quality_score: float | None = None


class RunMeta(msgspec.Struct, frozen=True, kw_only=True):
    """Everything about a run except its tables (JSON-friendly)."""

    id: str
    created_at: datetime
    request: BacktestRequest
    strategy: str
    params: dict[str, Any]
    span_start: datetime
    span_end: datetime
    series: list[SeriesUsed]
    engine: str
    engine_version: str
    fill: str
    optimistic: bool
    capital: float
    metrics: Metrics
    benchmark: Metrics | None = None
    opportunities: Opportunities | None = None
    notes: list[str] = msgspec.field(default_factory=list)
    # total return and final equity minus the benchmark's (any engine with a benchmark)
    excess_return: float | None = None
    excess_pnl: float | None = None
    # arbitrage runs: the currency of every value and the P&L attribution
    common_currency: str | None = None
    attribution: Attribution | None = None
    # who ran it (a user id; None for runs made outside the API, e.g. the CLI) and whether
    # its owner shares it with every holder of results:read
    owner: str | None = None
    shared: bool = False


class RunSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a run listing."""

    id: str
    created_at: datetime
    strategy: str
    series: list[str]
    span_start: datetime
    span_end: datetime
    engine: str
    total_return: float | None
    sharpe: float | None
    max_drawdown: float | None
    trade_count: int
    owner: str | None = None
    shared: bool = False


@dataclass(frozen=True)
class BacktestRun:
    """A run as stored: its metadata and its tables (curve, trades, orders, fills, balances,
    opportunities; balances and opportunities are empty for single-series runs). A run
    stored before a table existed reads back with that table empty."""

    meta: RunMeta
    tables: dict[TableName, pl.DataFrame] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in TABLE_NAMES:
            self.tables.setdefault(name, pl.DataFrame())

    @property
    def id(self) -> str:
        return self.meta.id

    def summary(self) -> RunSummary:
        m = self.meta
        return RunSummary(
            id=m.id,
            created_at=m.created_at,
            strategy=m.strategy,
            series=[s.series for s in m.series],
            span_start=m.span_start,
            span_end=m.span_end,
            engine=m.engine,
            total_return=m.metrics.total_return,
            sharpe=m.metrics.sharpe,
            max_drawdown=m.metrics.max_drawdown,
            trade_count=m.metrics.trade_count,
            owner=m.owner,
            shared=m.shared,
        )

    @classmethod
    def of(
        cls,
        run_id: str,
        created_at: datetime,
        request: BacktestRequest,
        params: Any,
        span: tuple[datetime, datetime],
        series: list[SeriesUsed],
        result: BacktestResult,
    ) -> BacktestRun:
        meta = RunMeta(
            id=run_id,
            created_at=created_at,
            request=request,
            strategy=request.strategy,
            params=msgspec.to_builtins(params),
            span_start=span[0],
            span_end=span[1],
            series=series,
            engine=result.engine,
            engine_version=result.engine_version,
            fill=result.fill,
            optimistic=result.optimistic,
            capital=result.capital,
            metrics=result.metrics,
            benchmark=result.benchmark,
            opportunities=result.opportunities,
            notes=list(result.notes),
            excess_return=result.excess_return,
            excess_pnl=result.excess_pnl,
            common_currency=result.common_currency,
            attribution=result.attribution,
        )
        tables: dict[TableName, pl.DataFrame] = {
            "curve": result.curve,
            "trades": result.trades,
            "orders": result.orders,
            "fills": result.fills,
            "balances": result.balances if result.balances is not None else pl.DataFrame(),
            "opportunities": (
                result.opportunity_table if result.opportunity_table is not None else pl.DataFrame()
            ),
        }
        return cls(meta, tables)
