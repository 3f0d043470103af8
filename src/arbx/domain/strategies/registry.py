"""The strategy registry: types by name, parameter validation and schemas for the API.

Built-in types are always there; plugin types are added by the plugin loader when the
process starts (``register_plugin``), and the plugins that failed to load are remembered
with their error (``plugin_failures``) so a request for one says why it is missing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from arbx.domain.errors import Conflict, InvalidInput
from arbx.domain.strategies.arbitrage import ARBITRAGE_STRATEGIES
from arbx.domain.strategies.base import StrategyType
from arbx.domain.strategies.signals import SIGNAL_STRATEGIES
from arbx.domain.suggestions import unknown

BUILTINS: Mapping[str, StrategyType] = {
    s.name: s for s in (*SIGNAL_STRATEGIES, *ARBITRAGE_STRATEGIES)
}


class _Registry(Mapping[str, StrategyType]):
    """Built-ins, then the plugins this process loaded (a plugin cannot shadow a name)."""

    def __init__(self) -> None:
        self.plugins: dict[str, StrategyType] = {}
        self.failures: dict[str, str] = {}

    def __getitem__(self, name: str) -> StrategyType:
        found = BUILTINS.get(name) or self.plugins.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def __iter__(self) -> Iterator[str]:
        yield from BUILTINS
        yield from self.plugins

    def __len__(self) -> int:
        return len(BUILTINS) + len(self.plugins)


STRATEGIES = _Registry()


def register_plugin(strategy: StrategyType) -> None:
    """Add a plugin type; ``Conflict`` when its name is taken (by a built-in or another
    plugin from elsewhere). Registering the same location's type again replaces it."""
    taken = BUILTINS.get(strategy.name)
    if taken is not None:
        raise Conflict(f"plugin strategy {strategy.name!r} has the name of a built-in; rename it")
    other = STRATEGIES.plugins.get(strategy.name)
    if other is not None and other.origin.location != strategy.origin.location:
        raise Conflict(
            f"plugin strategy {strategy.name!r} from {strategy.origin.location} has the name of"
            f" the one from {other.origin.location}; rename one"
        )
    STRATEGIES.plugins[strategy.name] = strategy


def record_plugin_failure(location: str, error: str) -> None:
    """Remember that the plugin at ``location`` (a file, an entry point) failed to load."""
    STRATEGIES.failures[location] = error


def plugin_failures() -> dict[str, str]:
    """Plugins that failed to load: location -> error."""
    return dict(STRATEGIES.failures)


def clear_plugins() -> None:
    """Forget every plugin type and failure (before loading again, and in tests)."""
    STRATEGIES.plugins.clear()
    STRATEGIES.failures.clear()


def get_strategy(name: str) -> StrategyType:
    try:
        return STRATEGIES[name]
    except KeyError:
        failed = "".join(
            f"; plugin {where} failed to load: {error.splitlines()[0] if error else ''}"
            for where, error in sorted(STRATEGIES.failures.items())
        )
        raise InvalidInput(
            unknown("strategy", name, STRATEGIES) + failed, field="strategy"
        ) from None


def parse_params(strategy: StrategyType, raw: Mapping[str, Any]) -> Any:
    """Validate raw parameters (JSON values or CLI strings) into the typed struct.

    Unknown names, wrong types, values outside their ranges and rule violations raise
    ``InvalidInput`` naming the field.
    """
    known = set(strategy.params.__struct_fields__)
    extra = sorted(set(raw) - known)
    if extra:
        raise InvalidInput(
            f"strategy {strategy.name}: {unknown('parameter', extra[0], known)}",
            field=f"params.{extra[0]}",
        )
    try:
        return msgspec.convert(dict(raw), strategy.params, strict=False)
    except msgspec.ValidationError as exc:
        path = str(exc).rsplit("at `$.", 1)
        field = path[1].rstrip("`") if len(path) == 2 else None
        raise InvalidInput(
            f"invalid parameters for {strategy.name}: {exc}",
            field=f"params.{field}" if field else "params",
        ) from None
    except InvalidInput:
        raise
    except Exception as exc:  # a plugin's own __post_init__ raising something else
        raise InvalidInput(
            f"invalid parameters for {strategy.name}: {type(exc).__name__}: {exc}",
            field="params",
        ) from None


def describe(strategy: StrategyType) -> dict[str, Any]:
    """A JSON-able description: name, kind, series count, a JSON schema of params (with
    their ranges), and where the code comes from (built in, or a plugin's location, code
    hash and version)."""
    schema = msgspec.json.schema(strategy.params)
    defs = schema.get("$defs", {})
    ref = schema.get("$ref", "")
    body = defs.get(ref.rsplit("/", 1)[-1], schema) if ref else schema
    origin = strategy.origin
    try:
        defaults = msgspec.to_builtins(strategy.params())
    except Exception:  # a plugin's parameters without defaults
        defaults = {}
    return {
        "name": strategy.name,
        "kind": strategy.kind,
        "description": strategy.description,
        "min_series": strategy.min_series,
        "max_series": strategy.max_series,
        "params": body,
        "defaults": defaults,
        "source": origin.source,
        "location": origin.location,
        "code_hash": origin.code_hash,
        "version": origin.version,
    }


def describe_all() -> list[dict[str, Any]]:
    return [describe(STRATEGIES[name]) for name in sorted(STRATEGIES)]
