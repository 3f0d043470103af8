"""Venues of an arbitrage run on one time axis, valued in one common currency.

- Every venue's quote is converted to the common currency by its conversion series (the
  last conversion close at or before each bar); a venue quoted in the common currency has
  rate 1, and so has one whose quote is listed in ``assume_parity`` (recorded in notes).
  Any other venue without a conversion is refused (``InvalidInput`` naming the series).
- Nothing is back-filled from the future: the axis starts at the first bar at which every
  traded series and every conversion has data (a note says so when that is later than the
  earliest series); marks and rates are the last value at or before each bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import msgspec
import numpy as np

from arbx.domain.backtest.costs import FeeSchedule, SlippageModel, known_volume
from arbx.domain.backtest.execution import BarArrays, FillMode
from arbx.domain.backtest.kernels import BoolArray, FloatArray, IntArray
from arbx.domain.errors import InvalidInput
from arbx.domain.orderbook.synthetic import SyntheticBook

# how orders fill: on bars, on books built from bars, or on recorded books or quotes (the
# caller hands the engine the recorded streams, ``arbitrage_book_fills.RecordedBooks``)
ExecutionModel = Literal["bars", "synthetic_book", "recorded_book", "recorded_quotes"]
EngineExecution = ExecutionModel
RECORDED: tuple[str, ...] = ("recorded_book", "recorded_quotes")
EXECUTIONS: tuple[str, ...] = ("bars", "synthetic_book", *RECORDED)


@dataclass(frozen=True)
class VenueSeries:
    """One venue's bars for the traded pair, its fees and its quote->common conversion."""

    venue: str
    symbol: str
    bars: BarArrays
    fees: FeeSchedule
    conversion: BarArrays | None = None

    @property
    def label(self) -> str:
        return f"{self.venue}:{self.symbol}"

    @property
    def quote(self) -> str:
        return self.symbol.split("/", 1)[1] if "/" in self.symbol else self.symbol


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def last_known(src_ts: IntArray, values: FloatArray, ts: IntArray) -> FloatArray:
    """The last value at or before each of ``ts``; NaN before the first (never back-filled)."""
    idx = np.searchsorted(src_ts, ts, side="right") - 1
    out = values[np.maximum(idx, 0)]
    return np.asarray(np.where(idx >= 0, out, np.nan), dtype=np.float64)


def _union(stamps: list[IntArray]) -> IntArray:
    """Sorted union of sorted time axes (sort + neighbour compare: no hashing)."""
    first = stamps[0]
    if all(t.size == first.size and np.array_equal(t, first) for t in stamps[1:]):
        return first
    merged = np.sort(np.concatenate(stamps), kind="stable")
    keep = np.ones(merged.size, dtype=bool)
    keep[1:] = merged[1:] != merged[:-1]
    out: IntArray = merged[keep]
    return out


def _start(series: list[VenueSeries]) -> tuple[int, list[str]]:
    """The first instant at which every input has data, and a note when it is late."""
    firsts: list[tuple[int, str]] = []
    for s in series:
        if not s.bars.n:
            raise InvalidInput(f"series {s.label} has no bars", field="series")
        firsts.append((int(s.bars.ts[0]), s.label))
        if s.conversion is not None:
            if not s.conversion.n:
                raise InvalidInput(f"the conversion of {s.label} has no bars", field="conversions")
            firsts.append((int(s.conversion.ts[0]), f"the conversion of {s.label}"))
    start, last = max(firsts)
    earliest = min(t for t, _ in firsts)
    notes = []
    if start > earliest:
        notes.append(
            f"the run starts at {iso(start)}, the first bar at which every series and"
            f" conversion has data ({last} starts last); nothing is back-filled"
        )
    return start, notes


@dataclass(frozen=True)
class AlignedMarket:
    """Venues on one time axis (the union of their bar times); NaN where a venue has none."""

    ts: IntArray
    venues: list[str]
    symbols: list[str]
    open: FloatArray  # (V, n)
    close: FloatArray
    volume: FloatArray  # 0 where a venue has no bar
    has_bar: BoolArray
    rate: FloatArray  # quote -> common, last known at each bar
    mark: FloatArray  # last known close, venue quote
    fees: list[FeeSchedule]
    bar_ms: int
    common_currency: str = ""
    notes: list[str] = field(default_factory=list)

    @classmethod
    def align(
        cls,
        series: list[VenueSeries],
        *,
        common_currency: str | None = None,
        assume_parity: tuple[str, ...] | list[str] = (),
    ) -> AlignedMarket:
        """Align ``series``; ``common_currency`` defaults to the first series' quote."""
        if len(series) < 2:
            raise InvalidInput("arbitrage needs at least two venues", field="series")
        common = common_currency or series[0].quote
        notes: list[str] = []
        for s in series:
            if s.conversion is not None or s.quote == common:
                continue
            if s.quote not in assume_parity:
                raise InvalidInput(
                    f"series {s.label} is quoted in {s.quote}, not in the common currency"
                    f" {common}: give a conversion series ({s.quote}/{common}) or list"
                    f" {s.quote} in arbitrage.assume_parity",
                    field="conversions",
                )
            notes.append(
                f"assume_parity: 1 {s.quote} = 1 {common} for {s.label} (no conversion series)"
            )
        start, start_notes = _start(series)
        ts = _union([s.bars.ts for s in series])
        ts = ts[np.searchsorted(ts, start) :]
        if ts.size == 0:
            raise InvalidInput(
                f"no bar at or after {iso(start)}, when every series and conversion has data",
                field="series",
            )
        v, n = len(series), ts.size
        shape = (v, n)
        open_, close, volume = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape)
        has = np.zeros(shape, dtype=bool)
        rate, mark = np.ones(shape), np.full(shape, np.nan)
        for i, s in enumerate(series):
            first = int(np.searchsorted(s.bars.ts, start))
            pos = np.searchsorted(ts, s.bars.ts[first:])
            open_[i, pos] = s.bars.open[first:]
            close[i, pos] = s.bars.close[first:]
            volume[i, pos] = s.bars.volume[first:]
            has[i, pos] = True
            mark[i] = last_known(s.bars.ts, s.bars.close, ts)
            if s.conversion is not None:
                rate[i] = last_known(s.conversion.ts, s.conversion.close, ts)
        return cls(
            ts,
            [s.venue for s in series],
            [s.symbol for s in series],
            open_,
            close,
            volume,
            has,
            rate,
            mark,
            [s.fees for s in series],
            series[0].bars.bar_ms,
            common,
            [*notes, *start_notes],
        )

    @property
    def n(self) -> int:
        return int(self.ts.size)

    @property
    def labels(self) -> list[str]:
        """One book per traded series: "venue:BASE/QUOTE"."""
        return [f"{v}:{s}" for v, s in zip(self.venues, self.symbols, strict=True)]

    @property
    def quotes(self) -> list[str]:
        return [s.split("/", 1)[1] if "/" in s else s for s in self.symbols]

    def common_close(self) -> FloatArray:
        """Closes in the common currency; NaN where the venue has no bar."""
        return np.asarray(self.close * self.rate, dtype=np.float64)

    def common_mark(self) -> FloatArray:
        """Each venue's last known close in the common currency (what its base is worth)."""
        return np.asarray(self.mark * self.rate, dtype=np.float64)

    def known_volume(self, window: int) -> FloatArray:
        """(V, n): per venue and bar, the mean volume of its bars in the trailing ``window``
        bars up to and including that bar (``costs.known_volume``): what a decision there
        may know."""
        vol = np.where(self.has_bar, self.volume, np.nan)
        return np.vstack([known_volume(vol[i], window) for i in range(vol.shape[0])])


class ArbitrageConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Engine settings; amounts in the common currency, quantities in base units.

    ``max_drawdown`` (a fraction of the peak equity) stops trading and sells the base on
    every venue; ``max_inventory`` caps the base a venue may hold after a buy;
    ``max_notional`` caps a round trip's bought notional; ``max_volume_share`` caps a leg at
    that share of the venue's known volume; ``max_fill_delay_bars`` cancels a decision whose
    fill would come more than that many bars late; ``volume_window`` is the trailing window
    of the known volume used by volume-share slippage and ``max_volume_share``."""

    capital: float = 100_000.0
    base_fraction: float = 0.5
    slippage: SlippageModel = SlippageModel()
    fill: FillMode = "next_open"
    lot_size: float = 0.0
    min_notional: float = 10.0
    transfer_fee_bps: float = 5.0
    transfer_delay_bars: int = 30
    rebalance_trigger: float = 0.25
    risk_free_rate: float = 0.0
    fx_cost_bps: float = 1.0
    volume_window: int = 60
    max_fill_delay_bars: int | None = None
    max_drawdown: float | None = None
    max_inventory: float | None = None
    max_notional: float | None = None
    max_volume_share: float | None = None
    # how legs fill: at bar prices plus the slippage model ("bars"), by walking a book
    # built from the bars ("synthetic_book", see ``orderbook.synthetic``; flagged
    # synthetic), or the recorded books or quotes handed to the engine ("recorded_book",
    # "recorded_quotes"; see ``arbitrage_book_fills.RecordedBooks``)
    execution: EngineExecution = "bars"
    book: SyntheticBook = SyntheticBook()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.capital) and self.capital > 0):
            raise InvalidInput(f"capital must be > 0, got {self.capital!r}", field="capital")
        if not (0.0 <= self.base_fraction <= 1.0):
            raise InvalidInput("base_fraction must be in [0, 1]", field="base_fraction")
        if self.transfer_fee_bps < 0 or self.transfer_delay_bars < 0:
            raise InvalidInput("transfer fee and delay must be >= 0", field="transfer_fee_bps")
        if not (0.0 <= self.rebalance_trigger < 1.0):
            raise InvalidInput("rebalance_trigger must be in [0, 1)", field="rebalance_trigger")
        if self.min_notional < 0 or self.lot_size < 0:
            raise InvalidInput("min_notional and lot_size must be >= 0", field="min_notional")
        if not (math.isfinite(self.fx_cost_bps) and 0.0 <= self.fx_cost_bps < 10_000.0):
            raise InvalidInput("fx_cost_bps must be in [0, 10000)", field="arbitrage.fx_cost_bps")
        if self.volume_window < 1:
            raise InvalidInput("volume_window must be >= 1 bar", field="arbitrage.volume_window")
        if self.max_fill_delay_bars is not None and self.max_fill_delay_bars < 0:
            raise InvalidInput(
                "max_fill_delay_bars must be >= 0", field="arbitrage.max_fill_delay_bars"
            )
        if self.max_drawdown is not None and not (0.0 < self.max_drawdown <= 1.0):
            raise InvalidInput("max_drawdown must be in (0, 1]", field="risk.max_drawdown")
        if self.max_volume_share is not None and not (0.0 < self.max_volume_share <= 1.0):
            raise InvalidInput("max_volume_share must be in (0, 1]", field="risk.max_volume_share")
        for name in ("max_inventory", "max_notional"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise InvalidInput(f"{name} must be > 0", field=f"arbitrage.{name}")

        if self.execution not in EXECUTIONS:
            raise InvalidInput(
                f"execution must be one of {', '.join(EXECUTIONS)}, got {self.execution!r}",
                field="execution",
            )
        if self.execution == "bars" and self.book != SyntheticBook():
            raise InvalidInput(
                "book settings apply to execution 'synthetic_book' only; set execution or"
                " drop book",
                field="book",
            )
        if self.execution != "bars":
            if self.slippage.kind != "none":
                raise InvalidInput(
                    f"with execution {self.execution!r} a fill's slippage is the walk of the"
                    " book (its spread and depth); set slippage kind 'none'",
                    field="slippage",
                )
            if self.book.latency_ms and self.fill == "close":
                raise InvalidInput(
                    "book.latency_ms needs fill 'next_open' (a fill at the deciding bar's"
                    " close has no later instant to delay to)",
                    field="book.latency_ms",
                )

    @property
    def needs_volume(self) -> bool:
        return (
            self.slippage.depends_on_size
            or self.max_volume_share is not None
            or self.execution != "bars"
        )
