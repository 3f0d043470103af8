"""Balances per venue for the arbitrage engine: round trips, transfers, liquidation.

Every change of a balance is booked with its effect on equity (in the common currency, at
the rates and marks of the bar it happens at) split into the attribution parts of
``result.Attribution``; the bar-by-bar revaluation of what is held is added afterwards
(``arbitrage_accounts``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from arbx.domain.backtest.arbitrage_market import AlignedMarket, ArbitrageConfig
from arbx.domain.backtest.costs import BPS, round_lot
from arbx.domain.backtest.kernels import FloatArray
from arbx.domain.backtest.result import LEG_SCHEMA

if TYPE_CHECKING:
    from arbx.domain.backtest.arbitrage_book_fills import RecordedBooks

# Why a decision bar was not taken (codes of the per-bar outcome array).
TAKEN, BELOW, NO_BALANCE, SIZE_LIMIT, RISK_RULE, NO_MARKET, IN_POSITION, FILL_DELAY = range(8)
REASONS = (
    "taken",
    "below_threshold",
    "no_balance",
    "size_limit",
    "risk_rule",
    "no_market",
    "in_position",
    "fill_delay",
)


@dataclass
class Transfer:
    arrival: int  # bar at which it is credited
    dest: int
    kind: str  # "base" | "quote"
    amount: float  # destination units


@dataclass
class Books:
    market: AlignedMarket
    config: ArbitrageConfig
    base: list[float]
    quote: list[float]
    start_base: list[float]
    start_quote: list[float]
    value_mark: FloatArray  # (V, n) mark * rate
    volume: FloatArray | None  # (V, n) known volume, when a rule needs it
    transit: list[Transfer] = field(default_factory=list)
    legs: dict[str, list[object]] = field(default_factory=lambda: {k: [] for k in LEG_SCHEMA})
    snapshots: list[tuple[int, tuple[float, ...]]] = field(default_factory=list)
    notional: float = 0.0
    rebalances: int = 0
    # attribution of events (common currency, costs positive here)
    spread: float = 0.0
    fees: float = 0.0
    slippage: float = 0.0
    transfer_fees: float = 0.0
    fx_costs: float = 0.0
    event_revaluation: float = 0.0
    event_conversion: float = 0.0
    # execution "synthetic_book": legs that filled beyond their other leg (see
    # ``arbitrage_book_fills``), the base left by them, their cost, and base the kill
    # switch could not sell
    failed_legs: int = 0
    failed_qty: float = 0.0
    failed_cost: float = 0.0
    unsold: float = 0.0
    # recorded books to fill on instead of synthetic ones (``arbitrage_book_fills``)
    book_source: RecordedBooks | None = None

    @classmethod
    def open(cls, market: AlignedMarket, cfg: ArbitrageConfig) -> Books:
        """Capital split evenly over venues, ``base_fraction`` of each share in base, at the
        first bar's marks and rates (every input has data there, see ``align``)."""
        v = len(market.venues)
        share = cfg.capital / v
        marks = market.common_mark()
        base = [share * cfg.base_fraction / float(marks[i, 0]) for i in range(v)]
        quote = [share * (1.0 - cfg.base_fraction) / float(market.rate[i, 0]) for i in range(v)]
        volume = market.known_volume(cfg.volume_window) if cfg.needs_volume else None
        books = cls(market, cfg, base, quote, list(base), list(quote), marks, volume)
        books.snap(0)
        return books

    # state ----------------------------------------------------------------------------

    def state(self) -> tuple[float, ...]:
        """base per venue, quote per venue, base in transit per destination, quote in
        transit per destination (destination units)."""
        v = len(self.base)
        tb, tq = [0.0] * v, [0.0] * v
        for t in self.transit:
            (tb if t.kind == "base" else tq)[t.dest] += t.amount
        return (*self.base, *self.quote, *tb, *tq)

    def snap(self, bar: int) -> None:
        self.snapshots.append((bar, self.state()))

    def equity_at(self, bars: slice) -> FloatArray:
        """Equity over ``bars`` with the current balances (transit at its destination)."""
        s = np.asarray(self.state())
        v = len(self.base)
        held_base = s[:v] + s[2 * v : 3 * v]
        held_quote = s[v : 2 * v] + s[3 * v :]
        m, r = self.value_mark[:, bars], self.market.rate[:, bars]
        return np.asarray(held_base @ m + held_quote @ r, dtype=np.float64)

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
        delay: int = 0,
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
            delay,
            False,
        )
        for name, value in zip(LEG_SCHEMA, row, strict=True):
            self.legs[name].append(value)

    def arrive(self, upto: int) -> None:
        """Credit transfers that have arrived by bar ``upto`` (no change of equity: funds in
        transit are already valued at their destination)."""
        if not self.transit:
            return
        for item in sorted(self.transit, key=lambda t: (t.arrival, t.dest, t.kind)):
            if item.arrival <= upto:
                if item.kind == "base":
                    self.base[item.dest] += item.amount
                else:
                    self.quote[item.dest] += item.amount
                self.transit.remove(item)
                self.snap(item.arrival)

    # trading --------------------------------------------------------------------------

    def _slip(self, v: int, qty: float, decided: int) -> float:
        vol = float(self.volume[v, decided]) if self.volume is not None else 0.0
        return self.config.slippage.fraction(qty, vol)

    def _ref(self, v: int, bar: int) -> float:
        m = self.market
        return float(m.close[v, bar] if self.config.fill == "close" else m.open[v, bar])

    def round_trip(
        self,
        trade_id: int,
        decided: int,
        bar: int,
        buy: int,
        sell: int,
        qty: float,
        purpose: str,
        delay: int = 0,
        limits: bool = True,
    ) -> tuple[float, int]:
        """Buy ``qty`` on ``buy`` and sell it on ``sell`` at ``bar`` (decided at bar
        ``decided``), within balances and (when ``limits``) the risk limits.

        Returns (filled qty, outcome code: TAKEN or the skip reason).
        """
        cfg, m = self.config, self.market
        if cfg.execution != "bars":
            from arbx.domain.backtest.arbitrage_book_fills import book_round_trip

            return book_round_trip(
                self, trade_id, decided, bar, buy, sell, qty, purpose, delay, limits
            )
        ob, os_ = self._ref(buy, bar), self._ref(sell, bar)
        sb, ss = self._slip(buy, qty, decided), self._slip(sell, qty, decided)
        pb, ps = ob * (1.0 + sb), os_ * (1.0 - ss)
        phib, phis = m.fees[buy].rate(True), m.fees[sell].rate(True)
        rb, rs = float(m.rate[buy, bar]), float(m.rate[sell, bar])
        q, code = self.size(decided, buy, sell, qty, pb, phib, rb, limits)
        if code != TAKEN:
            return 0.0, code
        fee_b, fee_s = q * pb * phib, q * ps * phis
        self.quote[buy] -= q * pb + fee_b
        self.base[buy] += q
        self.base[sell] -= q
        self.quote[sell] += q * ps - fee_s
        mb, ms = float(self.value_mark[buy, bar]), float(self.value_mark[sell, bar])
        self.spread += q * (os_ * rs - ob * rb)
        self.fees += fee_b * rb + fee_s * rs
        self.slippage += q * (pb - ob) * rb + q * (os_ - ps) * rs
        # the base moves from the sell venue's mark to the buy venue's
        self.event_revaluation += q * (mb - ms)
        self.notional += q * pb * rb + q * ps * rs
        self.leg(trade_id, bar, buy, "buy", q, pb, fee_b, purpose, delay)
        self.leg(trade_id, bar, sell, "sell", q, ps, fee_s, purpose, delay)
        self.snap(bar)
        return q, TAKEN

    def size(
        self,
        decided: int,
        buy: int,
        sell: int,
        qty: float,
        pb: float,
        phib: float,
        rb: float,
        limits: bool,
    ) -> tuple[float, int]:
        """The quantity a round trip may trade at buy price ``pb`` within balances and
        (when ``limits``) the risk limits: (qty, TAKEN) or (0, the skip reason)."""
        cfg = self.config
        affordable = min(self.quote[buy] / (pb * (1.0 + phib)), self.base[sell])
        if affordable <= 0.0:
            return 0.0, NO_BALANCE
        cap = qty
        if limits:
            if cfg.max_inventory is not None:
                cap = min(cap, cfg.max_inventory - self.base[buy])
            if cfg.max_notional is not None:
                cap = min(cap, cfg.max_notional / (pb * rb))
            if cfg.max_volume_share is not None and self.volume is not None:
                cap = min(
                    cap,
                    cfg.max_volume_share * float(self.volume[buy, decided]),
                    cfg.max_volume_share * float(self.volume[sell, decided]),
                )
        q = round_lot(min(qty, affordable, cap), cfg.lot_size)
        if q <= 0.0 or q * pb * rb < cfg.min_notional:
            if cap < min(qty, affordable):
                return 0.0, RISK_RULE
            return 0.0, SIZE_LIMIT if affordable >= qty else NO_BALANCE
        return q, TAKEN

    def liquidate(self, v: int, decided: int, bar: int) -> None:
        """Sell all base held on venue ``v`` at ``bar`` (the kill switch)."""
        q = self.base[v]
        if q <= 0.0:
            return
        if self.config.execution != "bars":
            from arbx.domain.backtest.arbitrage_book_fills import book_liquidate

            book_liquidate(self, v, decided, bar)
            return
        m = self.market
        ref = self._ref(v, bar)
        price = ref * (1.0 - self._slip(v, q, decided))
        rate = float(m.rate[v, bar])
        fee = q * price * m.fees[v].rate(True)
        self.base[v] = 0.0
        self.quote[v] += q * price - fee
        self.fees += fee * rate
        self.slippage += q * (ref - price) * rate
        self.event_revaluation += q * (ref * rate - float(self.value_mark[v, bar]))
        self.notional += q * price * rate
        self.leg(-2, bar, v, "sell", q, price, fee, "kill_switch")
        self.snap(bar)

    def rebalance(self, bar: int) -> None:
        """Move half the gap from the richest to the poorest venue when one runs low
        (below ``rebalance_trigger`` of its start): one transfer of each kind at a time."""
        cfg, m = self.config, self.market
        for kind, held, start in (
            ("base", self.base, self.start_base),
            ("quote", self.quote, self.start_quote),
        ):
            if any(t.kind == kind for t in self.transit):
                continue
            n_v = len(held)
            if kind == "quote":
                values = [held[v] * float(m.rate[v, bar]) for v in range(n_v)]
                starts = [start[v] * float(m.rate[v, bar]) for v in range(n_v)]
            else:
                values, starts = list(held), list(start)
            low = min(range(n_v), key=lambda v: values[v] - starts[v])
            rich = max(range(n_v), key=lambda v: values[v] - starts[v])
            if low == rich or values[low] >= cfg.rebalance_trigger * starts[low]:
                continue
            move = (values[rich] - values[low]) / 2.0  # in base, or in common currency
            if kind == "base" and cfg.max_inventory is not None:
                move = min(move, cfg.max_inventory - held[low])
            if move <= 0:
                continue
            if kind == "base":
                self._move_base(bar, rich, low, min(move, held[rich]))
            else:
                self._move_quote(bar, rich, low, min(move / float(m.rate[rich, bar]), held[rich]))
            self.rebalances += 1
            self.snap(bar)
            if cfg.transfer_delay_bars == 0:
                self.arrive(bar)

    def _send(self, bar: int, rich: int, low: int, kind: str, out: float, net: float) -> None:
        cfg, m = self.config, self.market
        fee = out * cfg.transfer_fee_bps * BPS
        price = float(m.mark[rich, bar]) if kind == "base" else 1.0
        arrival = bar + cfg.transfer_delay_bars
        self.transit.append(Transfer(arrival, low, kind, net))
        self.leg(-1, bar, rich, "withdraw_" + kind, out, price, fee, "rebalance")
        self.leg(-1, min(arrival, m.n - 1), low, "deposit_" + kind, net, price, 0.0, "rebalance")

    def _move_base(self, bar: int, rich: int, low: int, out: float) -> None:
        fee = out * self.config.transfer_fee_bps * BPS
        self.base[rich] -= out
        net = out - fee
        mr, ml = float(self.value_mark[rich, bar]), float(self.value_mark[low, bar])
        self.transfer_fees += fee * mr
        self.event_revaluation += net * (ml - mr)  # marked at the destination from now on
        self._send(bar, rich, low, "base", out, net)

    def _move_quote(self, bar: int, rich: int, low: int, out: float) -> None:
        """Quote from ``rich`` to ``low``: converted at the bar's market rate
        ``R_rich / R_low`` and charged ``fx_cost_bps`` when the two quotes differ."""
        cfg, m = self.config, self.market
        fee = out * cfg.transfer_fee_bps * BPS
        self.quote[rich] -= out
        rr, rl = float(m.rate[rich, bar]), float(m.rate[low, bar])
        sent = out - fee
        fx = 0.0
        if m.quotes[rich] != m.quotes[low]:
            converted = sent * rr / rl
            fx = converted * cfg.fx_cost_bps * BPS
            arrive = converted - fx
        else:
            arrive = sent
        self.transfer_fees += fee * rr
        self.fx_costs += fx * rl
        # what is left of the equity change: a same-currency transfer between venues whose
        # conversions differ (exactly 0 up to rounding when the quotes differ)
        self.event_conversion += arrive * rl + fx * rl - sent * rr
        self._send(bar, rich, low, "quote", out, arrive)
