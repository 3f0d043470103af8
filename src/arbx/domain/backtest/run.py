"""A stored backtest run: the request that made it, what data it read, and what came out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import msgspec
import polars as pl

from arbx.domain.backtest.metrics import Metrics
from arbx.domain.backtest.request import BacktestRequest
from arbx.domain.backtest.result import Attribution, BacktestResult, Opportunities

TableName = Literal["curve", "trades", "orders", "fills", "balances", "opportunities"]
# tables added after runs were first stored: a run stored before has none (read back empty)
LATER_TABLES: frozenset[TableName] = frozenset({"opportunities"})
TABLE_NAMES: tuple[TableName, ...] = (
    "curve",
    "trades",
    "orders",
    "fills",
    "balances",
    "opportunities",
)


class BarsFingerprint(msgspec.Struct, frozen=True):
    """What identifies the bars a run read: row count, first and last bar, and the SHA-256 of
    the bars (``fingerprint_bars``); ``sha256`` is None for runs stored before it existed."""

    rows: int
    first_ts: datetime
    last_ts: datetime
    sha256: str | None = None

    def same_as(self, other: BarsFingerprint) -> bool:
        """Equal counts and ends, and equal hashes when both are known."""
        if (self.rows, self.first_ts, self.last_ts) != (other.rows, other.first_ts, other.last_ts):
            return False
        return self.sha256 is None or other.sha256 is None or self.sha256 == other.sha256


FINGERPRINT_COLUMNS = ("open", "high", "low", "close", "volume")


def fingerprint_bars(frame: pl.DataFrame) -> BarsFingerprint:
    """Fingerprint a canonical bar frame (not empty). The hash covers the row count, then
    ``ts`` as epoch milliseconds (int64), then open, high, low, close, volume (float64), each
    column's little-endian bytes in row order: the same bars give the same hash in any
    process, on any machine, whatever store they came from."""
    digest = hashlib.sha256(f"arbx-bars-v1:{frame.height}:".encode())
    ts = frame["ts"].dt.epoch("ms").to_numpy().astype("<i8", copy=False)
    digest.update(ts.tobytes())
    for name in FINGERPRINT_COLUMNS:
        digest.update(frame[name].cast(pl.Float64).to_numpy().astype("<f8", copy=False).tobytes())
    return BarsFingerprint(frame.height, frame["ts"][0], frame["ts"][-1], digest.hexdigest())


class SeriesUsed(msgspec.Struct, frozen=True):
    """One series a run read: its key, row count and first/last bar in the span, the SHA-256
    of those bars (see ``fingerprint_bars``); with the data's quality when known: ``gaps``
    (runs of empty grid slots between its first and last bar), ``bars_missing`` (their slots)
    and ``quality_score`` (0..1, see domain.quality)."""

    series: str
    rows: int
    first_ts: datetime
    last_ts: datetime
    gaps: int | None = None
    bars_missing: int | None = None
    quality_score: float | None = None
    sha256: str | None = None

    @property
    def fingerprint(self) -> BarsFingerprint:
        return BarsFingerprint(self.rows, self.first_ts, self.last_ts, self.sha256)


class DataChange(msgspec.Struct, frozen=True):
    """A series whose bars differ between a run and its rerun: both fingerprints (None on the
    side that did not read the series)."""

    series: str
    before: BarsFingerprint | None
    now: BarsFingerprint | None


def data_changes(before: list[SeriesUsed], now: list[SeriesUsed]) -> list[DataChange]:
    """The series whose fingerprints differ between two runs, in the order they were read."""
    old = {s.series: s.fingerprint for s in before}
    new = {s.series: s.fingerprint for s in now}
    changes = []
    for name in dict.fromkeys([*old, *new]):
        a, b = old.get(name), new.get(name)
        if a is None or b is None or not a.same_as(b):
            changes.append(DataChange(name, a, b))
    return changes


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
    # a rerun: the run it repeats and the series whose data changed since ([] when none)
    rerun_of: str | None = None
    data_changed: list[DataChange] | None = None
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
    # how orders filled ("bars" | "synthetic_book" | "recorded_book" | "recorded_quotes")
    # and whether the books were synthetic
    execution: str = "bars"
    synthetic: bool = False
    # the catalog version the run was made from ("name@v3"; None: a request without one)
    strategy_version: str | None = None


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
    params: dict[str, Any] = msgspec.field(default_factory=dict)  # the effective parameters
    final_equity: float | None = None
    excess_return: float | None = None  # total return minus the benchmark's


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
            params=dict(m.params),
            final_equity=m.metrics.final_equity,
            excess_return=m.excess_return,
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
            execution=result.execution,
            synthetic=result.synthetic,
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
