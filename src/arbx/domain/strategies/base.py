"""What a strategy type is: a name, typed parameters, a lookback and how it decides."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from arbx.domain.backtest.execution import BarArrays
from arbx.domain.backtest.kernels import FloatArray

StrategyKind = Literal["signal", "arbitrage"]


@dataclass(frozen=True)
class StrategyType:
    """One registered strategy type.

    - ``signal`` strategies trade one series long/flat: ``target(bars, params)`` returns a
      0/1 array decided at each close from bars up to it (causal). ``grid`` (optional)
      computes many parameter sets in one broadcast, shape ``(len(params), n)`` (any
      numeric dtype; int8 keeps large grids small).
    - ``arbitrage`` strategies trade two or more venues; the arbitrage engine runs them.
    """

    name: str
    kind: StrategyKind
    description: str
    params: type[msgspec.Struct]
    lookback: Callable[[Any], int]
    target: Callable[[BarArrays, Any], FloatArray] | None = None
    grid: Callable[[BarArrays, Sequence[Any]], FloatArray] | None = None
    min_series: int = 1
    max_series: int = 1
