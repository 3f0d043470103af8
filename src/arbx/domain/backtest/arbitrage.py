"""The arbitrage engine: several venues, balances per venue, legs, transfers.

Accounting rules (the contract):

- Each venue holds base and its own quote currency; all valuation is in one common
  currency, each venue's quote converted by its conversion rate (e.g. USDC->USD from a
  USDC/USD series; 1 when no series is given). The rate used at bar t is the last
  conversion close at or before t (before the first one, its first value).
- A leg can only spend what its venue holds: a buy spends that venue's quote (notional +
  taker fee), a sell delivers that venue's base. Nothing is borrowed.
- A decision at bar t fills at the opens of bar t+1 (``next_open``) or the closes of t
  (``close``, optimistic) on every venue involved; a venue without a bar there cannot fill
  and the opportunity is skipped ("no_market").
- When a venue runs low (base or quote below ``rebalance_trigger`` of its starting
  amount) the engine moves half the difference from the richest venue. A transfer pays
  ``transfer_fee_bps`` of the amount and is on no venue for ``transfer_delay_bars`` bars.
- Equity at bar t = sum over venues of (base * last close * rate + quote * rate) plus the
  value of funds in transit (base at the mean venue mark, quote at the rate of its
  destination).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import msgspec
import numpy as np
import numpy.typing as npt
import polars as pl

from arbx.domain.backtest.costs import FeeSchedule, SlippageModel, round_lot
from arbx.domain.backtest.execution import BarArrays, FillMode
from arbx.domain.backtest.kernels import BoolArray, FloatArray, IntArray, drawdown
from arbx.domain.backtest.metrics import compute_metrics
from arbx.domain.backtest.result import (
    LEG_SCHEMA,
    ORDER_SCHEMA,
    BacktestResult,
    Opportunities,
    frame,
)
from arbx.domain.errors import InvalidInput


@dataclass(frozen=True)
class VenueSeries:
    """One venue's bars for the traded pair, its fees and its quote->common conversion."""

    venue: str
    symbol: str
    bars: BarArrays
    fees: FeeSchedule
    conversion: BarArrays | None = None


def _last_known(src_ts: IntArray, values: FloatArray, ts: IntArray) -> FloatArray:
    idx = np.searchsorted(src_ts, ts, side="right") - 1
    out = values[np.maximum(idx, 0)]
    return np.asarray(np.where(idx >= 0, out, values[0]), dtype=np.float64)


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


@dataclass(frozen=True)
class AlignedMarket:
    """Venues on one time axis (the union of their bar times); NaN where a venue has none."""

    ts: IntArray
    venues: list[str]
    symbols: list[str]
    open: FloatArray  # (V, n)
    close: FloatArray
    volume: FloatArray
    has_bar: BoolArray
    rate: FloatArray  # quote -> common, last known at each bar
    mark: FloatArray  # last known close (forward-filled), venue quote
    fees: list[FeeSchedule]
    bar_ms: int

    @classmethod
    def align(cls, series: list[VenueSeries]) -> AlignedMarket:
        if len(series) < 2:
            raise InvalidInput("arbitrage needs at least two venues", field="series")
        ts = _union([s.bars.ts for s in series])
        v, n = len(series), ts.size
        shape = (v, n)
        open_, close, volume = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape)
        has = np.zeros(shape, dtype=bool)
        rate, mark = np.ones(shape), np.full(shape, np.nan)
        for i, s in enumerate(series):
            pos = np.searchsorted(ts, s.bars.ts)
            open_[i, pos] = s.bars.open
            close[i, pos] = s.bars.close
            volume[i, pos] = s.bars.volume
            has[i, pos] = True
            if s.bars.n:
                mark[i] = _last_known(s.bars.ts, s.bars.close, ts)
            if s.conversion is not None and s.conversion.n:
                rate[i] = _last_known(s.conversion.ts, s.conversion.close, ts)
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
        )

    @property
    def n(self) -> int:
        return int(self.ts.size)

    @property
    def labels(self) -> list[str]:
        """One book per traded series: "venue:BASE/QUOTE"."""
        return [f"{v}:{s}" for v, s in zip(self.venues, self.symbols, strict=True)]

    def common_close(self) -> FloatArray:
        """Closes in the common currency; NaN where the venue has no bar."""
        return np.asarray(self.close * self.rate, dtype=np.float64)


class ArbitrageConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
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


@dataclass(frozen=True)
class CrossDecisions:
    """Threshold-arbitrage decisions at the bars where the gross gap was above threshold."""

    bar: IntArray
    buy: IntArray  # venue index of the cheap venue
    sell: IntArray  # venue index of the dear venue
    net_ok: BoolArray  # gap net of fees and slippage still above threshold
    max_qty: float


@dataclass(frozen=True)
class PairDecisions:
    """Statistical-arbitrage decisions between venues 0 (A) and 1 (B).

    ``enter`` at bar t: +1 buy A / sell B, -1 sell A / buy B, 0 nothing; ``exit_ok``: the
    spread is back inside the exit band; a position is also closed after ``max_hold`` bars.
    """

    enter: npt.NDArray[np.int8]
    exit_ok: BoolArray
    max_hold: int
    qty: float


@dataclass
class _Books:
    market: AlignedMarket
    config: ArbitrageConfig
    base: list[float]
    quote: list[float]
    start_base: list[float]
    start_quote: list[float]
    transit: list[tuple[int, int, str, float]] = field(default_factory=list)
    legs: dict[str, list[object]] = field(default_factory=lambda: {k: [] for k in LEG_SCHEMA})
    snapshots: list[tuple[int, tuple[float, ...]]] = field(default_factory=list)
    fees_paid: float = 0.0
    notional: float = 0.0
    rebalances: int = 0
    transfer_fees: dict[str, float] = field(default_factory=lambda: {"base": 0.0, "quote": 0.0})

    def state(self) -> tuple[float, ...]:
        tb = sum(a for _, _, kind, a in self.transit if kind == "base")
        tq = sum(a for _, _, kind, a in self.transit if kind == "quote")
        return (*self.base, *self.quote, tb, tq)

    def snap(self, bar: int) -> None:
        self.snapshots.append((bar, self.state()))

    def leg(
        self,
        trade_id: int,
        bar: int,
        v: int,
        side: str,
        qty: float,
        price: float,
        fee: float,
        purpose: str,
    ) -> None:
        row = (
            trade_id,
            int(self.market.ts[bar]),
            bar,
            self.market.venues[v],
            self.market.symbols[v],
            side,
            qty,
            price,
            fee,
            purpose,
        )
        for name, value in zip(LEG_SCHEMA, row, strict=True):
            self.legs[name].append(value)

    def arrive(self, upto: int) -> None:
        """Credit transfers that have arrived by bar ``upto``."""
        if not self.transit:
            return
        for item in sorted(self.transit):
            bar, v, kind, amount = item
            if bar <= upto:
                if kind == "base":
                    self.base[v] += amount
                else:
                    self.quote[v] += amount
                self.transit.remove(item)
                self.snap(bar)

    def fill_price(self, v: int, bar: int, fill_close: bool) -> float:
        return float(self.market.close[v, bar] if fill_close else self.market.open[v, bar])

    def round_trip(
        self, trade_id: int, bar: int, buy: int, sell: int, qty: float, purpose: str
    ) -> tuple[float, str]:
        """Buy ``qty`` on ``buy`` and sell it on ``sell`` at ``bar``, within balances.

        Returns (filled qty, skip reason or "").
        """
        cfg, m = self.config, self.market
        fill_close = cfg.fill == "close"
        pb, ps = self.fill_price(buy, bar, fill_close), self.fill_price(sell, bar, fill_close)
        phib, phis = m.fees[buy].rate(True), m.fees[sell].rate(True)
        sb = cfg.slippage.fraction(qty, float(m.volume[buy, bar]))
        ss = cfg.slippage.fraction(qty, float(m.volume[sell, bar]))
        pb, ps = pb * (1.0 + sb), ps * (1.0 - ss)
        affordable = min(self.quote[buy] / (pb * (1.0 + phib)), self.base[sell])
        if affordable <= 0.0:
            return 0.0, "no_balance"
        q = round_lot(min(qty, affordable), cfg.lot_size)
        if q <= 0.0 or q * pb * float(m.rate[buy, bar]) < cfg.min_notional:
            return 0.0, "size_limit" if affordable >= qty else "no_balance"
        cost, fee_b = q * pb, q * pb * phib
        proceeds, fee_s = q * ps, q * ps * phis
        self.quote[buy] -= cost + fee_b
        self.base[buy] += q
        self.base[sell] -= q
        self.quote[sell] += proceeds - fee_s
        self.fees_paid += fee_b * m.rate[buy, bar] + fee_s * m.rate[sell, bar]
        self.notional += cost * m.rate[buy, bar] + proceeds * m.rate[sell, bar]
        self.leg(trade_id, bar, buy, "buy", q, pb, fee_b, purpose)
        self.leg(trade_id, bar, sell, "sell", q, ps, fee_s, purpose)
        self.snap(bar)
        return q, ""

    def rebalance(self, bar: int) -> None:
        """Move half the gap from the richest to the poorest venue when one runs low."""
        cfg, m = self.config, self.market
        for kind, held, start in (
            ("base", self.base, self.start_base),
            ("quote", self.quote, self.start_quote),
        ):
            if any(k == kind for _, _, k, _ in self.transit):
                continue
            if kind == "quote":
                values = [held[v] * float(m.rate[v, bar]) for v in range(len(held))]
                starts = [start[v] * float(m.rate[v, bar]) for v in range(len(held))]
            else:
                values, starts = list(held), list(start)
            low = min(range(len(held)), key=lambda v: values[v] - starts[v])
            rich = max(range(len(held)), key=lambda v: values[v] - starts[v])
            if low == rich or values[low] >= cfg.rebalance_trigger * starts[low]:
                continue
            move = (values[rich] - values[low]) / 2.0  # in base, or in common currency
            if move <= 0:
                continue
            out = move if kind == "base" else move / float(m.rate[rich, bar])
            out = min(out, held[rich])
            fee = out * cfg.transfer_fee_bps * 1e-4
            held[rich] -= out
            net = out - fee
            if kind == "quote":
                net = net * float(m.rate[rich, bar]) / float(m.rate[low, bar])
            self.transfer_fees[kind] += fee if kind == "base" else fee * float(m.rate[rich, bar])
            self.transit.append((bar + cfg.transfer_delay_bars, low, kind, net))
            self.rebalances += 1
            price = float(m.mark[rich, bar]) if kind == "base" else 1.0
            self.leg(-1, bar, rich, "withdraw_" + kind, out, price, fee, "rebalance")
            self.leg(
                -1,
                min(bar + cfg.transfer_delay_bars, m.n - 1),
                low,
                "deposit_" + kind,
                net,
                price,
                0.0,
                "rebalance",
            )
            self.fees_paid += fee * (
                float(m.mark[rich, bar]) * float(m.rate[rich, bar])
                if kind == "base"
                else float(m.rate[rich, bar])
            )
            self.snap(bar)
            if cfg.transfer_delay_bars == 0:
                self.arrive(bar)


def _open_books(market: AlignedMarket, cfg: ArbitrageConfig) -> _Books:
    v = len(market.venues)
    share = cfg.capital / v
    base, quote = [], []
    for i in range(v):
        first = int(np.argmax(market.has_bar[i]))
        price = float(market.close[i, first] * market.rate[i, first])
        base.append(share * cfg.base_fraction / price)
        quote.append(share * (1.0 - cfg.base_fraction) / float(market.rate[i, first]))
    books = _Books(market, cfg, base, quote, list(base), list(quote))
    books.snap(0)
    return books


def _fill_bar(
    market: AlignedMarket, cfg: ArbitrageConfig, t: int, venues: tuple[int, int]
) -> int | None:
    f = t if cfg.fill == "close" else t + 1
    if f >= market.n or not all(market.has_bar[v, f] for v in venues):
        return None
    return f


def execute_crosses(
    market: AlignedMarket, cfg: ArbitrageConfig, decisions: CrossDecisions
) -> BacktestResult:
    """Threshold arbitrage: a round trip at each decision whose net gap clears threshold."""
    books = _open_books(market, cfg)
    ok = decisions.net_ok
    seen, below = int(ok.size), int((~ok).sum())
    taken = no_bal = size = 0
    trade_id = 0
    for t, buy, sell in zip(
        decisions.bar[ok].tolist(),
        decisions.buy[ok].tolist(),
        decisions.sell[ok].tolist(),
        strict=True,
    ):
        f = _fill_bar(market, cfg, t, (buy, sell))
        if f is None:
            continue
        books.arrive(f)
        q, why = books.round_trip(trade_id, f, buy, sell, decisions.max_qty, "arbitrage")
        if q > 0:
            taken += 1
            trade_id += 1
            books.rebalance(f)
        elif why == "no_balance":
            no_bal += 1
            books.rebalance(f)
        else:
            size += 1
    books.arrive(market.n - 1)
    skipped_market = seen - taken - below - no_bal - size
    opp = Opportunities(
        seen=seen,
        taken=taken,
        skipped_below_threshold_after_costs=below,
        skipped_no_balance=no_bal,
        skipped_size_limit=size,
        skipped_no_market=skipped_market,
        rebalances=books.rebalances,
    )
    return _result(market, cfg, books, opp)


def execute_pairs(
    market: AlignedMarket, cfg: ArbitrageConfig, decisions: PairDecisions
) -> BacktestResult:
    """Statistical arbitrage between venues 0 and 1: open on ``enter``, close on
    ``exit_ok`` or after ``max_hold`` bars, reversing the legs with the same quantity."""
    books = _open_books(market, cfg)
    enter_bars = np.flatnonzero(decisions.enter != 0)
    exit_bars = np.flatnonzero(decisions.exit_ok)
    seen = taken = no_bal = size = in_pos = 0
    trade_id = 0
    t_free = -1  # no new entry before this bar (a position is open until then)
    for t in enter_bars.tolist():
        if t <= t_free:
            in_pos += 1
            seen += 1
            continue
        seen += 1
        direction = int(decisions.enter[t])
        buy, sell = (0, 1) if direction > 0 else (1, 0)
        f = _fill_bar(market, cfg, t, (0, 1))
        if f is None:
            continue
        books.arrive(f)
        q, why = books.round_trip(trade_id, f, buy, sell, decisions.qty, "open")
        if q <= 0:
            if why == "no_balance":
                no_bal += 1
                books.rebalance(f)
            else:
                size += 1
            continue
        taken += 1
        # exit: first exit-ok bar after t with a fill, or the max-hold bar
        k = int(np.searchsorted(exit_bars, t, side="right"))
        exit_t = int(exit_bars[k]) if k < exit_bars.size else market.n
        exit_t = min(exit_t, t + decisions.max_hold)
        close_f = None
        while exit_t < market.n:
            close_f = _fill_bar(market, cfg, exit_t, (0, 1))
            if close_f is not None:
                break
            exit_t += 1
        if close_f is None:
            t_free = market.n
            trade_id += 1
            continue
        books.arrive(close_f)
        books.round_trip(trade_id, close_f, sell, buy, q, "close")
        books.rebalance(close_f)
        trade_id += 1
        t_free = exit_t
    books.arrive(market.n - 1)
    opp = Opportunities(
        seen=seen,
        taken=taken,
        skipped_no_balance=no_bal,
        skipped_size_limit=size,
        skipped_in_position=in_pos,
        skipped_no_market=seen - taken - no_bal - size - in_pos,
        rebalances=books.rebalances,
    )
    return _result(market, cfg, books, opp)


def _result(
    market: AlignedMarket, cfg: ArbitrageConfig, books: _Books, opp: Opportunities
) -> BacktestResult:
    v, n = len(market.venues), market.n
    bars = np.asarray([b for b, _ in books.snapshots], dtype=np.int64)
    states = np.asarray([s for _, s in books.snapshots], dtype=np.float64)
    order = np.argsort(bars, kind="stable")
    bars, states = bars[order], states[order]
    idx = np.searchsorted(bars, np.arange(n), side="right") - 1
    table = states[np.maximum(idx, 0)]  # (n, 2V + 2)
    base, quote = table[:, :v].T, table[:, v : 2 * v].T
    transit_base, transit_quote = table[:, 2 * v], table[:, 2 * v + 1]
    mark_common = market.mark * market.rate
    mean_mark = np.nanmean(mark_common, axis=0)
    equity = (
        np.nansum(base * mark_common, axis=0)
        + np.sum(quote * market.rate, axis=0)
        + transit_base * mean_mark
        + transit_quote
    )
    ts = pl.Series("ts", market.ts, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC"))
    balances = {"ts": ts}
    for i, label in enumerate(market.labels):
        balances[f"{label}:base"] = pl.Series(base[i])
        balances[f"{label}:quote"] = pl.Series(quote[i])
    balances["transit_base"] = pl.Series(transit_base)
    balances["transit_quote"] = pl.Series(transit_quote)
    legs = frame(books.legs, LEG_SCHEMA)
    trade_legs = legs.filter(pl.col("trade_id") >= 0)
    pnl = _round_trip_pnl(trade_legs, market)
    held_base = np.nansum(base, axis=0) + transit_base
    metrics = compute_metrics(
        equity,
        cfg.capital,
        market.bar_ms,
        risk_free_rate=cfg.risk_free_rate,
        trade_pnl=pnl[:, 0] if pnl.size else np.zeros(0),
        trade_return=pnl[:, 1] if pnl.size else np.zeros(0),
        traded_notional=books.notional,
        fees_paid=books.fees_paid,
    )
    curve = pl.DataFrame(
        {
            "ts": ts,
            "equity": equity,
            "drawdown": drawdown(equity, cfg.capital),
            "cash": np.sum(quote * market.rate, axis=0),
            "position": held_base,
        }
    )
    return BacktestResult(
        engine="arbitrage",
        fill=cfg.fill,
        capital=cfg.capital,
        curve=curve,
        trades=legs,
        orders=pl.DataFrame(schema=ORDER_SCHEMA),
        fills=legs,
        metrics=metrics,
        balances=pl.DataFrame(balances),
        opportunities=opp,
    )


def _round_trip_pnl(legs: pl.DataFrame, market: AlignedMarket) -> FloatArray:
    """Per trade id: (pnl in common currency, return on the bought notional)."""
    if legs.is_empty():
        return np.zeros((0, 2))
    book = {label: i for i, label in enumerate(market.labels)}
    rows = [
        book[f"{v}:{s}"]
        for v, s in zip(legs["venue"].to_list(), legs["symbol"].to_list(), strict=True)
    ]
    rates = market.rate[rows, legs["bar"].to_numpy()]
    sign = np.where(legs["side"].to_numpy() == "sell", 1.0, -1.0)
    cash = (
        sign * legs["qty"].to_numpy() * legs["price"].to_numpy() - legs["fee"].to_numpy()
    ) * rates
    spent = np.where(sign < 0, legs["qty"].to_numpy() * legs["price"].to_numpy() * rates, 0.0)
    per = (
        pl.DataFrame({"id": legs["trade_id"], "cash": cash, "spent": spent})
        .group_by("id", maintain_order=True)
        .agg(pl.col("cash").sum(), pl.col("spent").sum())
    )
    pnl = per["cash"].to_numpy()
    ret = np.where(per["spent"].to_numpy() > 0, pnl / per["spent"].to_numpy(), 0.0)
    return np.column_stack((pnl, ret))
