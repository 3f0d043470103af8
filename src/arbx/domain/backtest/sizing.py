"""Position sizing: how much base to buy when a strategy goes long.

Every sizer turns a budget into a quantity the same way:
``q = budget / (fill_price * (1 + fee_rate))`` so that notional plus fee equals the budget,
then rounded down to the lot. The budget is

- ``fixed_fraction``: ``fraction * equity``;
- ``fixed_notional``: ``min(notional, equity)``;
- ``vol_target``: ``min(max_fraction, target_vol / sigma_t) * equity`` where ``sigma_t`` is
  the annualized standard deviation of log close-to-close returns over the ``lookback`` bars
  ending at the decision bar (only bars up to the decision are used); when ``sigma_t`` is
  zero or undefined the fraction is ``max_fraction``.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec
import numpy as np

from arbx.domain.backtest.costs import FloatArray
from arbx.domain.errors import InvalidInput

SizingKind = Literal["fixed_fraction", "fixed_notional", "vol_target"]


class Sizing(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: SizingKind = "fixed_fraction"
    fraction: float = 1.0
    notional: float = 0.0
    target_vol: float = 0.2
    lookback: int = 20
    max_fraction: float = 1.0

    def __post_init__(self) -> None:
        if not (0.0 < self.fraction <= 1.0):
            raise InvalidInput(
                f"sizing fraction must be in (0, 1], got {self.fraction!r}", field="sizing.fraction"
            )
        if self.kind == "fixed_notional" and not (
            math.isfinite(self.notional) and self.notional > 0
        ):
            raise InvalidInput(
                f"fixed_notional sizing needs a notional > 0, got {self.notional!r}",
                field="sizing.notional",
            )
        if self.kind == "vol_target":
            if not (math.isfinite(self.target_vol) and self.target_vol > 0):
                raise InvalidInput(
                    f"target_vol must be > 0, got {self.target_vol!r}", field="sizing.target_vol"
                )
            if self.lookback < 2:
                raise InvalidInput(
                    f"vol_target lookback must be >= 2 bars, got {self.lookback}",
                    field="sizing.lookback",
                )
            if not (0.0 < self.max_fraction <= 1.0):
                raise InvalidInput(
                    f"max_fraction must be in (0, 1], got {self.max_fraction!r}",
                    field="sizing.max_fraction",
                )

    @property
    def is_proportional(self) -> bool:
        """True when the budget is a fraction of equity (allows the closed-form engine path)."""
        return self.kind != "fixed_notional"

    def fractions(self, close: FloatArray, periods_per_year: float) -> FloatArray:
        """The equity fraction a decision at each bar would commit (proportional sizers)."""
        n = close.size
        if self.kind == "fixed_fraction":
            return np.full(n, self.fraction)
        if self.kind == "fixed_notional":
            return np.full(n, np.nan)
        sigma = rolling_log_return_std(close, self.lookback) * math.sqrt(periods_per_year)
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = self.target_vol / sigma
        raw = np.where(np.isfinite(raw) & (sigma > 0), raw, self.max_fraction)
        return np.asarray(np.minimum(raw, self.max_fraction), dtype=np.float64)

    def budget(self, equity: float, fraction: float) -> float:
        """Quote to commit (notional + fee) given equity and this bar's fraction."""
        if self.kind == "fixed_notional":
            return min(self.notional, equity)
        return fraction * equity


def rolling_log_return_std(close: FloatArray, lookback: int) -> FloatArray:
    """Sample std (ddof=1) of the last ``lookback`` log returns ending at each bar; NaN before."""
    n = close.size
    out = np.full(n, np.nan)
    if n <= lookback:
        return out
    r = np.diff(np.log(close))
    c1 = np.concatenate(([0.0], np.cumsum(r)))
    c2 = np.concatenate(([0.0], np.cumsum(r * r)))
    s1 = c1[lookback:] - c1[:-lookback]
    s2 = c2[lookback:] - c2[:-lookback]
    var = (s2 - s1 * s1 / lookback) / (lookback - 1)
    out[lookback:] = np.sqrt(np.maximum(var, 0.0))
    return out
