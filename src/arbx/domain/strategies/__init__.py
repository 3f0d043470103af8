"""Strategy types by name, with typed parameters (built-in and plugins)."""

from arbx.domain.strategies.base import StrategyOrigin, StrategyType
from arbx.domain.strategies.registry import (
    BUILTINS,
    STRATEGIES,
    clear_plugins,
    describe,
    describe_all,
    get_strategy,
    parse_params,
    plugin_failures,
    record_plugin_failure,
    register_plugin,
)

__all__ = [
    "BUILTINS",
    "STRATEGIES",
    "StrategyOrigin",
    "StrategyType",
    "clear_plugins",
    "describe",
    "describe_all",
    "get_strategy",
    "parse_params",
    "plugin_failures",
    "record_plugin_failure",
    "register_plugin",
]
