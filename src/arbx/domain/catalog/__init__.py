"""Strategy definitions and their versions: create, version, compare, roll back, deploy."""

from arbx.domain.catalog.model import (
    ALLOWED,
    DeployState,
    SpecChange,
    StateChange,
    StrategyDefinition,
    StrategySpec,
    StrategyVersion,
    check_name,
    diff_specs,
    transition,
)

__all__ = [
    "ALLOWED",
    "DeployState",
    "SpecChange",
    "StateChange",
    "StrategyDefinition",
    "StrategySpec",
    "StrategyVersion",
    "check_name",
    "diff_specs",
    "transition",
]
