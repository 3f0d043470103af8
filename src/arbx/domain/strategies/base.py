"""What a strategy type is: a name, typed parameters, a lookback and how it decides."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from arbx.domain.backtest.execution import BarArrays
from arbx.domain.backtest.kernels import FloatArray

StrategyKind = Literal["signal", "arbitrage", "event"]
StrategySource = Literal["builtin", "plugin"]


@dataclass(frozen=True)
class StrategyOrigin:
    """Where a strategy type's code comes from: built in, or a plugin (its file or entry
    point, the SHA-256 of its source and the version it declares)."""

    source: StrategySource = "builtin"
    location: str = ""
    code_hash: str = ""
    version: str = ""


BUILTIN = StrategyOrigin()


@dataclass(frozen=True)
class StrategyType:
    """One registered strategy type.

    - ``signal`` strategies trade one series long/flat: ``target(bars, params)`` returns a
      0/1 array decided at each close from bars up to it (causal). ``grid`` (optional)
      computes many parameter sets in one broadcast, shape ``(len(params), n)`` (any
      numeric dtype; int8 keeps large grids small).
    - ``arbitrage`` strategies trade two or more venues; the arbitrage engine runs them
      (a plugin's ``decide(market, params)`` returns its ``CrossDecisions``).
    - ``event`` strategies (plugins) are objects made by ``events(params)`` with
      ``on_bar(ctx)`` (and optionally ``on_fill(ctx, fill)``) run by the event engine.
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
    events: Callable[[Any], Any] | None = None
    decide: Callable[[Any, Any], Any] | None = None
    origin: StrategyOrigin = BUILTIN

    @property
    def is_plugin(self) -> bool:
        return self.origin.source == "plugin"
