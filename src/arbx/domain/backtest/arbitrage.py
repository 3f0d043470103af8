"""The arbitrage engine: several venues, balances per venue, legs, transfers.

Accounting rules (the contract; valuation and attribution in ``arbitrage_accounts``):

- Each venue holds base and its own quote currency; all valuation is in one explicit
  common currency, each venue's quote converted by its conversion rate (the last
  conversion close at or before the bar; see ``arbitrage_market`` for parity and the start
  of the run: nothing is back-filled).
- A leg can only spend what its venue holds: a buy spends that venue's quote (notional +
  taker fee), a sell delivers that venue's base. Nothing is borrowed.
- A decision at bar t fills at the opens of bar t+1 (``next_open``) or the closes of t
  (``close``, optimistic) on every venue involved; a venue without a bar there cannot fill
  and the decision is skipped ("no_market"). When bar t+1 of the run's axis is more than
  one bar after t (a gap in every venue), the fill is late by ``delay_bars`` (flagged on
  the legs, counted in ``Opportunities.fills_delayed``); ``max_fill_delay_bars`` skips such
  decisions ("fill_delay"). Slippage uses the volume known at t (a trailing window).
- When a venue runs low (base or quote below ``rebalance_trigger`` of its starting
  amount) the engine moves half the difference from the richest venue. A transfer pays
  ``transfer_fee_bps`` of the amount, is on no venue for ``transfer_delay_bars`` bars and,
  between different quotes, converts at the bar's rate and pays ``fx_cost_bps``.
- Risk: ``max_drawdown`` stops trading when equity falls that far below its peak and sells
  the base on every venue at its next bar; ``max_inventory``, ``max_notional`` and
  ``max_volume_share`` cap a round trip ("risk_rule" when they leave nothing to trade).
- A statistical-arbitrage position is closed by a reversed round trip of the same
  quantity; what does not fill stays open and is retried at the next exit; a position
  still open at the end is an open trade marked to market.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from arbx.domain.backtest.arbitrage_accounts import build_result
from arbx.domain.backtest.arbitrage_book_fills import RecordedBooks
from arbx.domain.backtest.arbitrage_books import (
    BELOW,
    FILL_DELAY,
    IN_POSITION,
    NO_BALANCE,
    NO_MARKET,
    RISK_RULE,
    SIZE_LIMIT,
    TAKEN,
    Books,
)
from arbx.domain.backtest.arbitrage_market import (
    RECORDED,
    AlignedMarket,
    ArbitrageConfig,
    VenueSeries,
    iso,
)
from arbx.domain.backtest.arbitrage_opportunities import NET_SPREAD_EDGES_BPS, group
from arbx.domain.backtest.costs import BPS
from arbx.domain.backtest.kernels import BoolArray, FloatArray, IntArray
from arbx.domain.backtest.result import BacktestResult, Opportunities
from arbx.domain.errors import InvalidInput

__all__ = [
    "AlignedMarket",
    "ArbitrageConfig",
    "CrossDecisions",
    "PairDecisions",
    "RecordedBooks",
    "VenueSeries",
    "execute_crosses",
    "execute_pairs",
    "net_spread_bps",
]


@dataclass(frozen=True)
class CrossDecisions:
    """Threshold-arbitrage decisions at the bars where the gross gap was above threshold.

    ``gross_bps`` / ``net_bps`` (the gap before / after both taker fees and the modeled
    slippage) feed the opportunity analytics; computed from the market when not given."""

    bar: IntArray
    buy: IntArray  # venue index of the cheap venue
    sell: IntArray  # venue index of the dear venue
    net_ok: BoolArray  # gap net of fees and slippage still above threshold
    max_qty: float
    gross_bps: FloatArray | None = None
    net_bps: FloatArray | None = None


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


def net_spread_bps(
    market: AlignedMarket,
    cfg: ArbitrageConfig,
    bars: IntArray,
    buy: IntArray,
    sell: IntArray,
    qty: float,
    volume: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(gross, net) gap in bps at ``bars``: sell venue's common close over the buy venue's,
    net of both taker fees and the slippage for ``qty`` at the volume known there."""
    price = market.common_close()
    with np.errstate(invalid="ignore", divide="ignore"):
        gross = (price[sell, bars] / price[buy, bars] - 1.0) / BPS
    taker = np.asarray([f.taker_bps for f in market.fees])
    cost = taker[buy] + taker[sell]
    if cfg.slippage.kind != "none":
        if volume is None and cfg.slippage.depends_on_size:
            volume = market.known_volume(cfg.volume_window)
        for side in (buy, sell):
            vol = volume[side, bars] if volume is not None else np.zeros(bars.size)
            cost = cost + cfg.slippage.fractions(np.full(bars.size, qty), vol) / BPS
    return np.asarray(gross, dtype=np.float64), np.asarray(gross - cost, dtype=np.float64)


def _fill_bar(
    market: AlignedMarket, cfg: ArbitrageConfig, t: int, venues: tuple[int, int]
) -> tuple[int, int] | None:
    """(fill bar, delay in bars) for a decision at ``t``, or None without a market."""
    f = t if cfg.fill == "close" else t + 1
    if cfg.execution != "bars" and cfg.book.latency_ms and f < market.n:
        # the order meets the book at the fill instant plus the latency: the bar holding
        # that instant, or the next bar when it falls in a gap of the axis
        at = int(market.ts[f]) + cfg.book.latency_ms
        f = int(np.searchsorted(market.ts, at - market.bar_ms, side="right"))
    if f >= market.n or not all(market.has_bar[v, f] for v in venues):
        return None
    if f == t:
        return f, 0
    return f, max(int((market.ts[f] - market.ts[t]) // market.bar_ms) - 1, 0)


class _KillSwitch:
    """``max_drawdown``: checks the equity of the bars up to a decision; once it falls
    more than the limit below its peak (the peak starting at capital), trading stops and
    the base on every venue is sold at that venue's next bar."""

    def __init__(self, books: Books, limit: float | None) -> None:
        self.books, self.limit = books, limit
        self.peak = books.config.capital
        self.checked = -1
        self.tripped: int | None = None
        self.note = ""

    def check(self, upto: int) -> bool:
        """True when tripped at or before bar ``upto``."""
        if self.tripped is not None:
            return True
        if self.limit is None or upto <= self.checked:
            return False
        seg = self.books.equity_at(slice(self.checked + 1, upto + 1))
        peak = np.maximum.accumulate(np.concatenate(([self.peak], seg)))[1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            dd = np.where(peak > 0, 1.0 - seg / peak, 0.0)
        hit = np.flatnonzero(dd > self.limit)
        if hit.size == 0:
            self.peak, self.checked = float(peak[-1]), upto
            return False
        self.tripped = self.checked + 1 + int(hit[0])
        self.note = (
            f"risk.max_drawdown {self.limit:.2%} tripped at"
            f" {iso(int(self.books.market.ts[self.tripped]))} (drawdown {dd[hit[0]]:.2%});"
            " trading stopped and the base on every venue was sold at its next bar; quote"
            " balances stay exposed to their conversion rates"
        )
        return True

    def first_bar(self, v: int, start: int) -> int | None:
        has = self.books.market.has_bar[v, start:]
        if start >= self.books.market.n or not has.any():
            return None
        return start + int(np.argmax(has))

    def flatten(self) -> None:
        """Sell the base of every venue (and base still in transit once it lands)."""
        assert self.tripped is not None
        books, k = self.books, self.tripped
        start = k if books.config.fill == "close" else k + 1
        pending = [(start, v) for v in range(len(books.base))]
        pending += [(t.arrival, t.dest) for t in books.transit if t.kind == "base"]
        events = []
        for bar, v in pending:
            g = self.first_bar(v, bar)
            if g is not None:
                events.append((g, v))
        for g, v in sorted(events):
            books.arrive(g)
            books.liquidate(v, k, g)


def _opportunities(
    books: Books,
    market: AlignedMarket,
    bars: IntArray,
    buy: IntArray,
    sell: IntArray,
    gross: FloatArray,
    net: FloatArray,
    outcome: npt.NDArray[np.int64],
    delayed: int,
) -> tuple[Opportunities, pl.DataFrame]:
    table, counts = group(market, bars, buy, sell, gross, net, outcome)
    count = np.bincount(outcome, minlength=8) if outcome.size else np.zeros(8, dtype=np.int64)
    opp = Opportunities(
        seen=int(outcome.size),
        taken=int(count[TAKEN]),
        skipped_below_threshold_after_costs=int(count[BELOW]),
        skipped_no_balance=int(count[NO_BALANCE]),
        skipped_size_limit=int(count[SIZE_LIMIT]),
        skipped_in_position=int(count[IN_POSITION]),
        skipped_no_market=int(count[NO_MARKET]),
        skipped_risk_rule=int(count[RISK_RULE]),
        skipped_fill_delay=int(count[FILL_DELAY]),
        rebalances=books.rebalances,
        fills_delayed=delayed,
        grouped=table.height,
        grouped_taken=int(table["taken"].sum()) if table.height else 0,
        net_spread_edges_bps=NET_SPREAD_EDGES_BPS,
        net_spread_counts=tuple(counts),
    )
    return opp, table


def execute_crosses(
    market: AlignedMarket,
    cfg: ArbitrageConfig,
    decisions: CrossDecisions,
    recorded: RecordedBooks | None = None,
) -> BacktestResult:
    """Threshold arbitrage: a round trip at each decision whose net gap clears threshold
    (legs fill on ``recorded`` books with ``execution="recorded_book"``)."""
    books = _open(market, cfg, recorded)
    kill = _KillSwitch(books, cfg.max_drawdown)
    ok = decisions.net_ok
    outcome = np.full(ok.size, BELOW, dtype=np.int64)
    trade_id = delayed = 0
    for k, t, buy, sell in zip(
        np.flatnonzero(ok).tolist(),
        decisions.bar[ok].tolist(),
        decisions.buy[ok].tolist(),
        decisions.sell[ok].tolist(),
        strict=True,
    ):
        if kill.check(t):
            outcome[k] = RISK_RULE
            continue
        fill = _fill_bar(market, cfg, t, (buy, sell))
        if fill is None:
            outcome[k] = NO_MARKET
            continue
        f, delay = fill
        if cfg.max_fill_delay_bars is not None and delay > cfg.max_fill_delay_bars:
            outcome[k] = FILL_DELAY
            continue
        books.arrive(f)
        q, code = books.round_trip(trade_id, t, f, buy, sell, decisions.max_qty, "arbitrage", delay)
        outcome[k] = code
        if q > 0:
            trade_id += 1
            delayed += delay > 0
            books.rebalance(f)
        elif code == NO_BALANCE:
            books.rebalance(f)
    notes = _finish(books, kill)
    gross, net = decisions.gross_bps, decisions.net_bps
    if gross is None or net is None:
        gross, net = net_spread_bps(
            market,
            cfg,
            decisions.bar,
            decisions.buy,
            decisions.sell,
            decisions.max_qty,
            books.volume,
        )
    opp, table = _opportunities(
        books, market, decisions.bar, decisions.buy, decisions.sell, gross, net, outcome, delayed
    )
    return build_result(market, cfg, books, opp, table, notes, {})


def _open(market: AlignedMarket, cfg: ArbitrageConfig, recorded: RecordedBooks | None) -> Books:
    if (recorded is not None) != (cfg.execution in RECORDED):
        raise InvalidInput(
            "recorded books go with execution 'recorded_book' or 'recorded_quotes' and it"
            " needs them",
            field="execution",
        )
    books = Books.open(market, cfg)
    if recorded is not None:
        recorded.check(market.labels)
        books.book_source = recorded
    return books


def _finish(books: Books, kill: _KillSwitch) -> list[str]:
    market = books.market
    kill.check(market.n - 1)
    if kill.tripped is not None:
        kill.flatten()
    books.arrive(market.n - 1)
    return [kill.note] if kill.note else []


def execute_pairs(
    market: AlignedMarket,
    cfg: ArbitrageConfig,
    decisions: PairDecisions,
    recorded: RecordedBooks | None = None,
) -> BacktestResult:
    """Statistical arbitrage between venues 0 and 1: open on ``enter``, close on
    ``exit_ok`` or after ``max_hold`` bars, reversing the legs with the same quantity."""
    books = _open(market, cfg, recorded)
    kill = _KillSwitch(books, cfg.max_drawdown)
    enter_bars = np.flatnonzero(decisions.enter != 0)
    exit_bars = np.flatnonzero(decisions.exit_ok)
    outcome = np.full(enter_bars.size, NO_MARKET, dtype=np.int64)
    buys = np.where(decisions.enter[enter_bars] > 0, 0, 1).astype(np.int64)
    open_trades: dict[int, tuple[int, int, float]] = {}
    trade_id = delayed = 0
    t_free = -1  # no new entry at or before this bar (a position is open until then)
    closes_cancelled = 0  # closing orders that would have filled too late

    def next_exit(after: int) -> int:
        k = int(np.searchsorted(exit_bars, after, side="right"))
        nxt = int(exit_bars[k]) if k < exit_bars.size else market.n
        return min(nxt, after + decisions.max_hold)

    for k, t in enumerate(enter_bars.tolist()):
        if t <= t_free:
            outcome[k] = IN_POSITION
            continue
        if kill.check(t):
            outcome[k] = RISK_RULE
            continue
        buy = int(buys[k])
        sell = 1 - buy
        fill = _fill_bar(market, cfg, t, (0, 1))
        if fill is None:
            continue
        f, delay = fill
        if cfg.max_fill_delay_bars is not None and delay > cfg.max_fill_delay_bars:
            outcome[k] = FILL_DELAY
            continue
        books.arrive(f)
        q, code = books.round_trip(trade_id, t, f, buy, sell, decisions.qty, "open", delay)
        outcome[k] = code
        if q <= 0:
            if code == NO_BALANCE:
                books.rebalance(f)
            continue
        delayed += delay > 0
        remaining, e, closed_at = q, next_exit(t), market.n
        dust = False  # what is left is below the venue minimum: open, but not blocking
        while e < market.n and remaining > 0.0:
            if kill.check(e):
                break
            close = _fill_bar(market, cfg, e, (0, 1))
            if close is None:
                e += 1
                continue
            cf, cdelay = close
            if cfg.max_fill_delay_bars is not None and cdelay > cfg.max_fill_delay_bars:
                closes_cancelled += 1  # the position stays open; decided again next bar
                e += 1
                continue
            books.arrive(cf)
            got, why = books.round_trip(
                trade_id, e, cf, sell, buy, remaining, "close", cdelay, limits=False
            )
            remaining -= got
            books.rebalance(cf)
            if remaining <= q * 1e-12:
                remaining, closed_at = 0.0, e
            elif why == SIZE_LIMIT:  # what is left is below the minimum: it stays open
                dust, closed_at = True, e
                break
            else:
                e = next_exit(e)
        if remaining > 0.0 and kill.tripped is not None:
            remaining = _kill_close(books, kill, trade_id, sell, buy, remaining)
            closed_at = kill.tripped
        if remaining > 0.0:
            open_trades[trade_id] = (buy, sell, remaining)
        trade_id += 1
        t_free = closed_at if remaining == 0.0 or dust else market.n
    notes = _finish(books, kill)
    sells = 1 - buys
    gross, net = net_spread_bps(market, cfg, enter_bars, buys, sells, decisions.qty, books.volume)
    opp, table = _opportunities(
        books, market, enter_bars, buys, sells, gross, net, outcome, delayed
    )
    if open_trades:
        notes.append(f"{len(open_trades)} position(s) still open at the end, marked to market")
    if closes_cancelled:
        notes.append(
            f"{closes_cancelled} closing order(s) cancelled: they would have filled more than"
            f" max_fill_delay_bars={cfg.max_fill_delay_bars} bars late; the position stayed"
            " open and the close was decided again at the next bar"
        )
    return build_result(market, cfg, books, opp, table, notes, open_trades)


def _kill_close(
    books: Books, kill: _KillSwitch, trade_id: int, sell: int, buy: int, remaining: float
) -> float:
    """Close an open pair at the first bar after the kill switch with both venues quoting."""
    assert kill.tripped is not None
    market = books.market
    start = kill.tripped if books.config.fill == "close" else kill.tripped + 1
    both = market.has_bar[0, start:] & market.has_bar[1, start:]
    if not both.any():
        return remaining
    g = start + int(np.argmax(both))
    books.arrive(g)
    got, _ = books.round_trip(
        trade_id, kill.tripped, g, sell, buy, remaining, "close", 0, limits=False
    )
    return remaining - got if remaining - got > remaining * 1e-12 else 0.0
