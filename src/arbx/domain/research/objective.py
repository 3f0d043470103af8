"""What a study optimizes: one metric of a run, maximized or minimized, under constraints.

A trial's score is the objective metric of its result; a trial that breaks a constraint
(fewer closed trades than ``min_trades``) or whose metric is undefined (no trades, zero
volatility: ``None``) is infeasible and never the best.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from arbx.domain.errors import InvalidInput

ObjectiveName = Literal["sharpe", "sortino", "calmar", "total_return", "net_pnl", "excess_return"]
OBJECTIVES: tuple[str, ...] = ObjectiveName.__args__  # type: ignore[attr-defined]
Direction = Literal["maximize", "minimize"]


class TrialMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """The figures a trial keeps (every objective's, whatever the study optimizes)."""

    sharpe: float | None = None
    sortino: float | None = None
    calmar: float | None = None
    total_return: float | None = None
    net_pnl: float | None = None
    excess_return: float | None = None
    max_drawdown: float | None = None
    trade_count: int = 0
    final_equity: float | None = None
    bars: int = 0


class Objective(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``metric`` of each trial, ``direction`` maximize or minimize; ``min_trades``: trials
    with fewer closed trades are infeasible."""

    metric: ObjectiveName = "sharpe"
    direction: Direction = "maximize"
    min_trades: int = 0

    def __post_init__(self) -> None:
        if self.min_trades < 0:
            raise InvalidInput("min_trades must be >= 0", field="objective.min_trades")

    def value(self, metrics: TrialMetrics) -> float | None:
        """The metric, or None when undefined or a constraint is broken."""
        if metrics.trade_count < self.min_trades:
            return None
        value: float | None = getattr(metrics, self.metric)
        return value

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b

    def signed(self, value: float) -> float:
        """The value as a quantity to maximize."""
        return value if self.direction == "maximize" else -value


def parse_objective(metric: str, direction: str = "maximize", min_trades: int = 0) -> Objective:
    if metric not in OBJECTIVES:
        raise InvalidInput(
            f"unknown objective {metric!r}; use one of {', '.join(OBJECTIVES)}",
            field="objective.metric",
        )
    if direction not in ("maximize", "minimize"):
        raise InvalidInput(
            f"direction must be maximize or minimize, got {direction!r}",
            field="objective.direction",
        )
    return msgspec.convert(
        {"metric": metric, "direction": direction, "min_trades": min_trades}, Objective
    )
