"""Cross-exchange arbitrage strategies: threshold and statistical (z-score of the spread).

Both compare prices in the common currency (each venue's close times its quote's
conversion rate) and decide at a bar's close from bars up to it; the arbitrage engine
(``arbx.domain.backtest.arbitrage``) fills the legs within each venue's balances.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from arbx.domain.backtest.arbitrage import AlignedMarket, CrossDecisions, PairDecisions
from arbx.domain.backtest.costs import BPS, SlippageModel
from arbx.domain.backtest.kernels import zscore
from arbx.domain.errors import InvalidInput
from arbx.domain.strategies.base import StrategyType


class ThresholdArbParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Buy on the cheapest venue and sell on the dearest in the same bar when the gap, net
    of both taker fees and the modeled slippage, exceeds ``threshold_bps``."""

    threshold_bps: float = 10.0
    max_qty: float = 0.5

    def __post_init__(self) -> None:
        if not (math.isfinite(self.threshold_bps) and self.threshold_bps >= 0):
            raise InvalidInput("threshold_bps must be >= 0", field="params.threshold_bps")
        if not (math.isfinite(self.max_qty) and self.max_qty > 0):
            raise InvalidInput("max_qty must be > 0", field="params.max_qty")


class StatArbParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """z = z-score of log(A) - log(B) over ``lookback`` bars. |z| > z_in: sell the dear
    venue, buy the cheap one; close when |z| < z_out or after ``max_hold`` bars."""

    lookback: int = 60
    z_in: float = 2.0
    z_out: float = 0.5
    max_hold: int = 240
    qty: float = 0.5

    def __post_init__(self) -> None:
        if self.lookback < 2:
            raise InvalidInput("lookback must be >= 2", field="params.lookback")
        if not (self.z_in > 0 and 0 <= self.z_out < self.z_in):
            raise InvalidInput("need z_in > 0 and 0 <= z_out < z_in", field="params.z_out")
        if self.max_hold < 1:
            raise InvalidInput("max_hold must be >= 1 bar", field="params.max_hold")
        if not (math.isfinite(self.qty) and self.qty > 0):
            raise InvalidInput("qty must be > 0", field="params.qty")


def cross_decisions(
    market: AlignedMarket,
    params: ThresholdArbParams,
    slippage: SlippageModel,
    volume_window: int = 60,
) -> CrossDecisions:
    """Per bar with two or more venues quoting: cheapest and dearest venue, gross gap in bps,
    and whether the gap net of costs clears the threshold (vectorized over all bars).

    The slippage in the costs is the model's for ``max_qty`` at the volume known at the
    decision bar (the mean of the trailing ``volume_window`` bars, ``costs.known_volume``),
    never the fill bar's volume or a whole-run statistic."""
    price = market.common_close()  # NaN where a venue has no bar
    quoting = np.isfinite(price)
    enough = quoting.sum(axis=0) >= 2
    low = np.where(quoting, price, np.inf)
    high = np.where(quoting, price, -np.inf)
    buy = np.argmin(low, axis=0)
    sell = np.argmax(high, axis=0)
    cols = np.arange(market.n)
    with np.errstate(invalid="ignore", divide="ignore"):
        gross = (high[sell, cols] / low[buy, cols] - 1.0) / BPS
    taker = np.asarray([f.taker_bps for f in market.fees])
    seen = enough & (gross > params.threshold_bps)
    bars = np.flatnonzero(seen)
    b, s = buy[bars], sell[bars]
    cost = taker[b] + taker[s]
    if slippage.kind == "fixed":
        cost = cost + 2.0 * slippage.bps
    elif slippage.depends_on_size:
        volume = market.known_volume(volume_window)
        qty = np.full(bars.size, params.max_qty)
        for side in (b, s):
            cost = cost + slippage.fractions(qty, volume[side, bars]) / BPS
    g = gross[bars]
    net = g - cost
    return CrossDecisions(
        bar=bars.astype(np.int64),
        buy=b.astype(np.int64),
        sell=s.astype(np.int64),
        net_ok=net > params.threshold_bps,
        max_qty=params.max_qty,
        gross_bps=np.asarray(g, dtype=np.float64),
        net_bps=np.asarray(net, dtype=np.float64),
    )


def pair_decisions(market: AlignedMarket, params: StatArbParams) -> PairDecisions:
    """Entries where both venues quote and |z| > z_in; exits where |z| < z_out."""
    price = market.common_close()
    both = np.isfinite(price[0]) & np.isfinite(price[1])
    ia, ib = np.flatnonzero(both), np.flatnonzero(both)
    spread = np.log(price[0, ia]) - np.log(price[1, ib])
    z_q = zscore(spread, params.lookback)  # over quoting bars only
    z = np.full(market.n, np.nan)
    z[ia] = z_q
    enter = np.zeros(market.n, dtype=np.int8)
    enter[z < -params.z_in] = 1  # A cheap: buy A, sell B
    enter[z > params.z_in] = -1
    return PairDecisions(
        enter=enter, exit_ok=np.abs(z) < params.z_out, max_hold=params.max_hold, qty=params.qty
    )


ARBITRAGE_STRATEGIES = (
    StrategyType(
        "threshold_arb",
        "arbitrage",
        "Cross-venue arbitrage when the net gap exceeds a threshold in bps.",
        ThresholdArbParams,
        lambda p: 1,
        min_series=2,
        max_series=8,
    ),
    StrategyType(
        "stat_arb",
        "arbitrage",
        "Statistical arbitrage on the z-score of the log spread between two venues.",
        StatArbParams,
        lambda p: p.lookback + 1,
        min_series=2,
        max_series=2,
    ),
)
