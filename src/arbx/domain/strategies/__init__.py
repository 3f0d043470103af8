"""Strategy types by name, with typed parameters."""

from arbx.domain.strategies.base import StrategyType
from arbx.domain.strategies.registry import (
    STRATEGIES,
    describe,
    describe_all,
    get_strategy,
    parse_params,
)

__all__ = ["STRATEGIES", "StrategyType", "describe", "describe_all", "get_strategy", "parse_params"]
