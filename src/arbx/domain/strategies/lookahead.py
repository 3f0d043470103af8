"""The no-look-ahead property, for any registered strategy type (built-in or plugin).

``check_strategy`` makes seeded synthetic bars (one series, or two venues for arbitrage and
for event strategies over several series, the second one missing some bars),
then for several cut bars ``c`` changes every bar after ``c`` and runs the strategy again:
every decision at or before ``c`` (positions, orders sent, crosses, pair entries and exits)
must be the same. A decision that changes means the strategy read a bar after its decision
bar. Errors in the strategy's code are reported too (``StrategyFailed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from arbx.domain.backtest.arbitrage import AlignedMarket, VenueSeries
from arbx.domain.backtest.costs import FeeSchedule, SlippageModel
from arbx.domain.backtest.events import run_events
from arbx.domain.backtest.execution import BarArrays, Execution
from arbx.domain.backtest.multi_events import SeriesLeg, run_multi_events
from arbx.domain.errors import InvalidInput
from arbx.domain.strategies.arbitrage import (
    StatArbParams,
    ThresholdArbParams,
    cross_decisions,
    pair_decisions,
)
from arbx.domain.strategies.base import StrategyType
from arbx.domain.strategies.plugin import readonly

MINUTE_MS = 60_000
START_MS = 1_672_531_200_000  # 2023-01-01


@dataclass
class LookaheadReport:
    """What ``check_strategy`` found: ``ok`` when no decision depended on a later bar and
    the strategy ran without error on every variant."""

    strategy: str
    bars: int
    cuts: list[int]
    violations: list[str] = field(default_factory=list)
    error: str | None = None
    decisions: int = 0  # non-flat decisions seen on the unchanged bars (0: nothing tested)

    @property
    def ok(self) -> bool:
        return not self.violations and self.error is None


def synthetic_bars(n: int, seed: int, *, scale: float = 100.0, vol: float = 0.004) -> BarArrays:
    """A seeded random walk with consistent OHLC and positive volume, on a 1m grid."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, vol, n) + 0.002 * np.sin(np.arange(n) / 25.0)
    close = scale * np.exp(np.cumsum(steps))
    opens = np.concatenate([[scale], close[:-1]])
    wiggle = np.abs(rng.normal(0.0, vol / 2, n))
    high = np.maximum(opens, close) * (1 + wiggle)
    low = np.minimum(opens, close) * (1 - wiggle)
    volume = rng.gamma(2.0, 5.0, n)
    ts = START_MS + MINUTE_MS * np.arange(n, dtype=np.int64)
    return BarArrays(ts, opens, high, low, close, volume, MINUTE_MS, "synthetic", "BTC/USDC")


def changed_after(bars: BarArrays, cut: int, seed: int) -> BarArrays:
    """``bars`` with every bar after ``cut`` changed (prices scaled, volume redrawn)."""
    rng = np.random.default_rng(seed)
    k = bars.n - cut - 1
    factor = np.exp(np.cumsum(rng.normal(0.0, 0.02, k)))
    cols = [a.copy() for a in (bars.open, bars.high, bars.low, bars.close, bars.volume)]
    for col in cols[:4]:
        col[cut + 1 :] *= factor
    cols[4][cut + 1 :] = rng.gamma(2.0, 5.0, k)
    o, h, lo, c, v = cols
    return BarArrays(bars.ts, o, h, lo, c, v, bars.bar_ms, bars.venue, bars.symbol)


def check_strategy(
    strategy: StrategyType,
    params: Any = None,
    *,
    bars: int = 600,
    cuts: int = 6,
    seed: int = 7,
) -> LookaheadReport:
    """Run the no-look-ahead property on ``strategy`` with ``params`` (its defaults when
    None) over ``cuts`` cut bars spread after its lookback."""
    p = strategy.params() if params is None else params
    need = strategy.lookback(p)
    n = max(bars, 4 * need + 50)
    points = np.linspace(need, n - 2, cuts).astype(int).tolist()
    report = LookaheadReport(strategy.name, n, sorted(set(points)))
    try:
        if strategy.kind == "arbitrage":
            _check_arbitrage(strategy, p, n, seed, report)
        elif strategy.kind == "event":
            _check_events(strategy, p, n, seed, report)
        else:
            _check_signal(strategy, p, n, seed, report)
    except InvalidInput as exc:  # StrategyFailed too: the strategy's own code failed
        report.error = exc.message
    return report


def _check_signal(s: StrategyType, p: Any, n: int, seed: int, r: LookaheadReport) -> None:
    assert s.target is not None
    base = synthetic_bars(n, seed)
    full = s.target(base, p)
    r.decisions = int(np.count_nonzero(full))
    for i, c in enumerate(r.cuts):
        other = s.target(changed_after(base, c, seed + 100 + i), p)
        diff = np.flatnonzero(full[: c + 1] != other[: c + 1])
        if diff.size:
            r.violations.append(
                f"position at bar {int(diff[0])} changed when only bars after {c} changed"
            )


def _orders(s: StrategyType, bars: BarArrays, p: Any) -> Any:
    assert s.events is not None
    result = run_events(
        readonly(bars), Execution(fees=FeeSchedule(taker_bps=5)), strategy=s.events(p)
    )
    return result.orders.select("created_bar", "side", "kind", "limit_price", "stop_price")


def _several(bars: list[BarArrays]) -> list[SeriesLeg]:
    ex = Execution(fees=FeeSchedule(taker_bps=5))
    return [SeriesLeg(readonly(b), ex) for b in bars]


def _multi_orders(s: StrategyType, bars: list[BarArrays], p: Any) -> Any:
    assert s.events is not None
    result = run_multi_events(_several(bars), s.events(p))
    return result.orders.select(
        "created_bar", "venue", "symbol", "side", "kind", "limit_price", "stop_price"
    )


def several_synthetic(n: int, seed: int, count: int) -> list[BarArrays]:
    """``count`` related series on one 1m grid: the first complete, the others correlated
    with it and each missing some bars (so the check also crosses the alignment)."""
    first = synthetic_bars(n, seed)
    out = [first]
    rng = np.random.default_rng(seed + 1)
    for k in range(1, count):
        gap = np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
        keep = np.ones(n, dtype=bool)
        keep[rng.choice(np.arange(1, n - 1), size=max(1, n // 20), replace=False)] = False
        o, h, lo, c = (
            a[keep] * gap[keep] for a in (first.open, first.high, first.low, first.close)
        )
        b = BarArrays(
            first.ts[keep],
            o,
            h,
            lo,
            c,
            rng.gamma(2.0, 5.0, n)[keep],
            first.bar_ms,
            f"synthetic{k}",
            "BTC/USDC",
        )
        out.append(b)
    return out


def _check_multi_events(s: StrategyType, p: Any, n: int, seed: int, r: LookaheadReport) -> None:
    base = several_synthetic(n, seed, max(2, s.min_series))
    axis = base[0].ts  # the first series has every bar: the aligned axis
    full = _multi_orders(s, base, p)
    r.decisions = full.height
    for i, c in enumerate(r.cuts):
        changed = []
        for k, bars in enumerate(base):
            local = int(np.searchsorted(bars.ts, axis[c], side="right")) - 1
            changed.append(changed_after(bars, local, seed + 100 + i + k))
        other = _multi_orders(s, changed, p)
        a = full.filter(full["created_bar"] <= c)
        b = other.filter(other["created_bar"] <= c)
        if not a.equals(b):
            r.violations.append(f"orders sent up to bar {c} changed when only later bars changed")


def _check_events(s: StrategyType, p: Any, n: int, seed: int, r: LookaheadReport) -> None:
    if s.max_series > 1:
        _check_multi_events(s, p, n, seed, r)
        return
    base = synthetic_bars(n, seed)
    full = _orders(s, base, p)
    r.decisions = full.height
    for i, c in enumerate(r.cuts):
        other = _orders(s, changed_after(base, c, seed + 100 + i), p)
        a = full.filter(full["created_bar"] <= c)
        b = other.filter(other["created_bar"] <= c)
        if not a.equals(b):
            r.violations.append(f"orders sent up to bar {c} changed when only later bars changed")


def _market(bars: list[BarArrays]) -> AlignedMarket:
    fees = FeeSchedule(maker_bps=1.0, taker_bps=2.0)
    venues = [VenueSeries(f"venue{i}", "BTC/USDC", b, fees) for i, b in enumerate(bars)]
    return AlignedMarket.align(venues)


def _arb_decisions(s: StrategyType, market: AlignedMarket, p: Any) -> list[tuple[Any, ...]]:
    """Every decision as (bar, what...) rows."""
    if s.decide is not None or isinstance(p, ThresholdArbParams):
        d = (
            s.decide(market, p)
            if s.decide is not None
            else cross_decisions(market, p, SlippageModel(), 60)
        )
        return list(
            zip(d.bar.tolist(), d.buy.tolist(), d.sell.tolist(), d.net_ok.tolist(), strict=True)
        )
    if isinstance(p, StatArbParams):
        pair = pair_decisions(market, p)
        return [
            (t, int(e), bool(x))
            for t, (e, x) in enumerate(zip(pair.enter, pair.exit_ok, strict=True))
        ]
    raise InvalidInput(f"no look-ahead check for arbitrage strategy {s.name}", field="strategy")


def _check_arbitrage(s: StrategyType, p: Any, n: int, seed: int, r: LookaheadReport) -> None:
    a = synthetic_bars(n, seed)
    rng = np.random.default_rng(seed + 1)
    gap = np.exp(rng.normal(0.0, 0.004, n))
    b = BarArrays(
        a.ts, a.open * gap, a.high * gap, a.low * gap, a.close * gap, a.volume.copy(), a.bar_ms
    )
    full = _arb_decisions(s, _market([a, b]), p)
    r.decisions = len(full)
    for i, c in enumerate(r.cuts):
        changed = [changed_after(x, c, seed + 100 + i + k) for k, x in enumerate((a, b))]
        other = _arb_decisions(s, _market(changed), p)
        if [d for d in full if d[0] <= c] != [d for d in other if d[0] <= c]:
            r.violations.append(f"decisions up to bar {c} changed when only later bars changed")
