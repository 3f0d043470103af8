"""The strategy registry: types by name, parameter validation and schemas for the API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from arbx.domain.errors import InvalidInput
from arbx.domain.strategies.arbitrage import ARBITRAGE_STRATEGIES
from arbx.domain.strategies.base import StrategyType
from arbx.domain.strategies.signals import SIGNAL_STRATEGIES
from arbx.domain.suggestions import unknown

STRATEGIES: Mapping[str, StrategyType] = {
    s.name: s for s in (*SIGNAL_STRATEGIES, *ARBITRAGE_STRATEGIES)
}


def get_strategy(name: str) -> StrategyType:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise InvalidInput(unknown("strategy", name, STRATEGIES), field="strategy") from None


def parse_params(strategy: StrategyType, raw: Mapping[str, Any]) -> Any:
    """Validate raw parameters (JSON values or CLI strings) into the typed struct.

    Unknown names, wrong types and rule violations raise ``InvalidInput`` naming the field.
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


def describe(strategy: StrategyType) -> dict[str, Any]:
    """A JSON-able description: name, kind, series count and a JSON schema of params."""
    schema = msgspec.json.schema(strategy.params)
    defs = schema.get("$defs", {})
    ref = schema.get("$ref", "")
    body = defs.get(ref.rsplit("/", 1)[-1], schema) if ref else schema
    return {
        "name": strategy.name,
        "kind": strategy.kind,
        "description": strategy.description,
        "min_series": strategy.min_series,
        "max_series": strategy.max_series,
        "params": body,
        "defaults": msgspec.to_builtins(strategy.params()),
    }


def describe_all() -> list[dict[str, Any]]:
    return [describe(STRATEGIES[name]) for name in sorted(STRATEGIES)]
