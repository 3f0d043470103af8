from __future__ import annotations

import msgspec
import pytest

from arbx.domain.errors import InvalidInput
from arbx.domain.strategies import STRATEGIES, describe_all, get_strategy, parse_params


def test_registry_holds_every_strategy_type() -> None:
    assert set(STRATEGIES) == {
        "buy_and_hold",
        "sma_cross",
        "ema_cross",
        "mean_reversion",
        "momentum",
        "rsi",
        "threshold_arb",
        "stat_arb",
    }
    for s in STRATEGIES.values():
        if s.kind == "signal":
            assert s.target is not None
            assert s.max_series == 1
        else:
            assert s.min_series >= 2


def test_descriptions_are_json_with_schemas_and_defaults() -> None:
    described = describe_all()
    encoded = msgspec.json.decode(msgspec.json.encode(described))
    sma = next(d for d in encoded if d["name"] == "sma_cross")
    assert sma["params"]["properties"]["fast"]["type"] == "integer"
    assert sma["defaults"] == {"fast": 10, "slow": 50, "entry": "cross"}
    assert sma["params"]["properties"]["entry"]["enum"] == ["cross", "state"]
    assert sma["kind"] == "signal"


def test_params_parse_from_cli_strings() -> None:
    params = parse_params(get_strategy("sma_cross"), {"fast": "5", "slow": "20"})
    assert (params.fast, params.slow) == (5, 20)


@pytest.mark.parametrize(
    ("name", "raw", "field"),
    [
        ("sma_cross", {"fast": 50, "slow": 10}, "params.fast"),
        ("sma_cross", {"fast": 10, "slow": 10}, "params.fast"),
        ("sma_cross", {"fats": 10}, "params.fats"),
        ("sma_cross", {"fast": "ten"}, "params.fast"),
        ("rsi", {"oversold": 80, "overbought": 70}, "params.oversold"),
        ("mean_reversion", {"window": 1}, "params.window"),
        ("stat_arb", {"z_in": 1.0, "z_out": 2.0}, "params.z_out"),
        ("threshold_arb", {"threshold_bps": -1}, "params.threshold_bps"),
    ],
)
def test_bad_params_name_the_field(name: str, raw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_params(get_strategy(name), raw)
    assert err.value.field == field


def test_unknown_strategy_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="sma_cross") as err:
        get_strategy("smacross")
    assert err.value.field == "strategy"
