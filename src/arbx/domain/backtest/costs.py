"""Trading costs: per-venue maker/taker fees and slippage models.

Fees are in basis points of the traded notional and are paid in the quote currency.
Slippage moves the fill price against the trader: a buy fills at ``price * (1 + s)``, a
sell at ``price * (1 - s)``, where ``s`` is the model's fraction for that fill.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import msgspec
import numpy as np
import numpy.typing as npt

from arbx.domain.errors import InvalidInput

BPS = 1e-4
FloatArray = npt.NDArray[np.float64]


class FeeSchedule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Maker and taker fees of one venue, in basis points of notional (>= 0)."""

    maker_bps: float = 0.0
    taker_bps: float = 0.0

    def __post_init__(self) -> None:
        for name in ("maker_bps", "taker_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value < 10_000.0):
                raise InvalidInput(
                    f"fee {name} must be a number of basis points in [0, 10000), got {value!r}",
                    field=f"fees.{name}",
                )

    def rate(self, taker: bool = True) -> float:
        """The fee as a fraction of notional (taker for market orders, maker for limits)."""
        return (self.taker_bps if taker else self.maker_bps) * BPS


# Public spot fee schedules at the lowest volume tier (2024); config may override them.
DEFAULT_FEES: Mapping[str, FeeSchedule] = {
    "binance": FeeSchedule(maker_bps=10.0, taker_bps=10.0),
    "binanceus": FeeSchedule(maker_bps=0.0, taker_bps=10.0),
    "coinbase": FeeSchedule(maker_bps=40.0, taker_bps=60.0),
    "kraken": FeeSchedule(maker_bps=25.0, taker_bps=40.0),
}


def fees_for(venue: str, overrides: Mapping[str, FeeSchedule] | None = None) -> FeeSchedule:
    """The schedule for ``venue``: an override first, then the default, else zero fees."""
    if overrides and venue in overrides:
        return overrides[venue]
    return DEFAULT_FEES.get(venue, FeeSchedule())


class VenueRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a venue accepts from a spot order: a minimum notional in quote units and the
    quantity step (lot) per base asset; a base without an entry has no lot rounding."""

    min_notional: float = 0.0
    lot_sizes: dict[str, float] = msgspec.field(default_factory=dict)

    def lot_size(self, base: str) -> float:
        return self.lot_sizes.get(base, 0.0)


# Spot order filters for BTC pairs (2024), rounded to the conservative side; a request's
# ``min_notional`` / ``lot_size`` override them. binance: MIN_NOTIONAL/NOTIONAL filter 5
# (USDT, USDC, ...) and LOT_SIZE step 0.00001 BTC (GET /api/v3/exchangeInfo). binanceus: the
# venue's $10 minimum order, step 0.00001 BTC. coinbase: min_market_funds 1 and
# base_increment 0.00000001 BTC (GET /products/BTC-USD). kraken: ordermin 0.0001 BTC and
# costmin 0.5 (GET /0/public/AssetPairs) -- 0.0001 BTC is 2-7 USD at 2023-24 prices, so
# 5 quote units stands in for both; lot_decimals 8.
DEFAULT_VENUE_RULES: Mapping[str, VenueRules] = {
    "binance": VenueRules(min_notional=5.0, lot_sizes={"BTC": 1e-5}),
    "binanceus": VenueRules(min_notional=10.0, lot_sizes={"BTC": 1e-5}),
    "coinbase": VenueRules(min_notional=1.0, lot_sizes={"BTC": 1e-8}),
    "kraken": VenueRules(min_notional=5.0, lot_sizes={"BTC": 1e-8}),
}


def venue_rules(venue: str) -> VenueRules:
    """The built-in rules of ``venue``; a venue without any has no minimum and no lot."""
    return DEFAULT_VENUE_RULES.get(venue, VenueRules())


SlippageKind = Literal["none", "fixed", "volume_share"]


class SlippageModel(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How far a fill moves against the trader.

    - ``none``: fills at the reference price.
    - ``fixed``: ``s = bps * 1e-4`` on every fill.
    - ``volume_share``: square-root impact ``s = k_bps * 1e-4 * sqrt(min(q / V, 1))`` where
      ``q`` is the filled base quantity and ``V`` the base volume known when the order was
      decided (the trailing mean of ``known_volume``, never the fill bar's own volume);
      no known volume counts as full participation (``q / V = 1``).
    """

    kind: SlippageKind = "none"
    bps: float = 0.0
    k_bps: float = 0.0

    def __post_init__(self) -> None:
        for name in ("bps", "k_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value < 10_000.0):
                raise InvalidInput(
                    f"slippage {name} must be in [0, 10000) basis points, got {value!r}",
                    field=f"slippage.{name}",
                )

    @property
    def depends_on_size(self) -> bool:
        return self.kind == "volume_share" and self.k_bps > 0.0

    def fraction(self, quantity: float = 0.0, bar_volume: float = 0.0) -> float:
        """The slippage fraction ``s`` for one fill."""
        if self.kind == "fixed":
            return self.bps * BPS
        if self.kind == "volume_share":
            share = 1.0 if bar_volume <= 0.0 else min(quantity / bar_volume, 1.0)
            return self.k_bps * BPS * math.sqrt(max(share, 0.0))
        return 0.0

    def fractions(self, quantity: FloatArray, bar_volume: FloatArray) -> FloatArray:
        """Vectorized ``fraction`` over arrays of fills."""
        if self.kind == "fixed":
            return np.full(quantity.shape, self.bps * BPS)
        if self.kind == "volume_share":
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(bar_volume > 0.0, quantity / bar_volume, 1.0)
            share = np.clip(share, 0.0, 1.0)
            return np.asarray(self.k_bps * BPS * np.sqrt(share), dtype=np.float64)
        return np.zeros(quantity.shape)


def known_volume(volume: FloatArray, window: int) -> FloatArray:
    """Per bar t, the mean volume of the ``window`` bars up to and including t.

    This is the volume a decision at bar t may use: a fill at the open of t+1 does not
    know t+1's volume yet, and no whole-run statistic (a median) may leak into it. Bars
    before the first full window use the mean of the bars seen so far; NaN volumes (a
    venue without a bar there) count as absent, and a bar with nothing seen yet is 0.
    """
    if window < 1:
        raise InvalidInput(f"volume window must be >= 1 bar, got {window}", field="slippage")
    v = np.where(np.isfinite(volume), volume, 0.0).astype(np.float64)
    seen = np.isfinite(volume).astype(np.float64)
    csum = np.concatenate(([0.0], np.cumsum(v)))
    ccount = np.concatenate(([0.0], np.cumsum(seen)))
    idx = np.arange(v.size)
    lo = np.maximum(idx + 1 - window, 0)
    total = csum[idx + 1] - csum[lo]
    count = ccount[idx + 1] - ccount[lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(count > 0, total / np.maximum(count, 1.0), 0.0)
    return np.asarray(out, dtype=np.float64)


def buy_price(price: float, slip: float) -> float:
    return price * (1.0 + slip)


def sell_price(price: float, slip: float) -> float:
    return price * (1.0 - slip)


def round_lot(quantity: float, lot: float) -> float:
    """Round a quantity DOWN to a multiple of ``lot`` (no rounding when ``lot`` is 0)."""
    if lot <= 0.0:
        return quantity
    # The small epsilon keeps 0.3 / 0.1 from rounding down to 2 lots.
    return math.floor(quantity / lot + 1e-9) * lot
