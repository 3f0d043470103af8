"""Strategy definitions and their versions: create, version, compare, roll back, deploy."""

from arbx.domain.catalog.model import (
    ALLOWED,
    DeployState,
    RollbackRule,
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
    "RollbackRule",
    "SpecChange",
    "StateChange",
    "StrategyDefinition",
    "StrategySpec",
    "StrategyVersion",
    "check_name",
    "diff_specs",
    "transition",
]
