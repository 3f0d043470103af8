"""Parameter spaces: derived from the strategies' typed params, checked before any work."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.research.space import grid_points, parse_space, sample_point
from arbx.domain.strategies import StrategyType, get_strategy, parse_params

SMA = get_strategy("sma_cross")
ARB = get_strategy("threshold_arb")


class Bounded(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    window: Annotated[int, msgspec.Meta(ge=2, le=500)] = 20
    alpha: Annotated[float, msgspec.Meta(gt=0.0, lt=1.0)] = 0.5


BOUNDED = StrategyType("bounded", "signal", "test", Bounded, lambda p: p.window)


def test_a_stepped_grid_drops_the_points_the_strategy_refuses_and_counts_them() -> None:
    space = parse_space(
        SMA,
        {"fast": {"low": 5, "high": 50, "step": 5}, "slow": {"low": 20, "high": 200, "step": 20}},
    )
    grid = grid_points(SMA, space)
    pairs = {(p["fast"], p["slow"]) for p in grid.points}
    expected = {(f, s) for f in range(5, 51, 5) for s in range(20, 201, 20) if f < s}
    assert pairs == expected
    assert grid.refused == 100 - len(expected)
    assert grid.first_refusal is not None
    assert "shorter than slow" in grid.first_refusal


def test_choices_log_scale_and_fixed_values() -> None:
    space = parse_space(
        ARB,
        {"threshold_bps": {"low": 1, "high": 100, "log": True, "count": 3}, "max_qty": 0.25},
    )
    grid = grid_points(ARB, space)
    assert [p["threshold_bps"] for p in grid.points] == pytest.approx([1.0, 10.0, 100.0])
    assert space.params_of(grid.points[0])["max_qty"] == 0.25
    choice = parse_space(SMA, {"entry": ["cross", "state"], "fast": 3})
    assert [p["entry"] for p in grid_points(SMA, choice).points] == ["cross", "state"]


@pytest.mark.parametrize(
    ("space", "field", "words"),
    [
        ({"nope": {"low": 1, "high": 2}}, "space.nope", "unknown parameter 'nope'"),
        ({"fast": {"low": 10, "high": 5, "step": 1}}, "space.fast", "inverted"),
        ({"fast": {"low": 0, "high": 5, "step": 1}}, "space.fast", "fast must be >= 1"),
        ({"fast": {"low": 1.5, "high": 5, "step": 1}}, "space.fast", "integer"),
        ({"fast": {"low": 1, "high": 5, "step": 0}}, "space.fast", "step must be > 0"),
        ({"fast": {"low": 1, "high": 5, "log": True, "step": 1}}, "space.fast", "count"),
        ({"entry": ["cross", "sideways"]}, "space.entry", "'sideways' is not one of"),
        ({"entry": {"low": 1, "high": 2}}, "space.entry", "give choices"),
        ({"fast": {"high": 5}}, "space.fast", "needs low and high"),
        ({"fast": {"low": 1, "high": 5, "stride": 1}}, "space.fast", "unknown key 'stride'"),
        ({"fast": {"choices": []}}, "space.fast", "non-empty"),
        ({}, "space", "empty"),
        ({"fast": 3}, "space", "empty"),
        ({"fast": "abc", "slow": [10, 20]}, "space.fast", "refused"),
        ({"threshold_bps": {"low": 0, "high": 5, "log": True, "count": 3}}, None, "low > 0"),
    ],
)
def test_bad_spaces_name_the_parameter(
    space: dict[str, Any], field: str | None, words: str
) -> None:
    strategy = ARB if "threshold_bps" in space else SMA
    with pytest.raises(InvalidInput) as err:
        parse_space(strategy, space)
    assert words in err.value.message
    assert err.value.field == (field or "space.threshold_bps")


def test_meta_bounds_of_the_params_struct_are_honoured() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_space(BOUNDED, {"window": {"low": 1, "high": 50, "step": 1}})
    assert err.value.field == "space.window"
    assert "bounds 2..500" in err.value.message
    with pytest.raises(InvalidInput) as err:
        parse_space(BOUNDED, {"alpha": {"low": 0.0, "high": 0.5, "count": 3}})
    assert err.value.field == "space.alpha"
    ok = parse_space(BOUNDED, {"alpha": {"low": 0.1, "high": 0.9, "count": 5}})
    assert len(grid_points(BOUNDED, ok).points) == 5


def test_more_grid_points_than_max_trials_is_refused_with_the_count() -> None:
    space = parse_space(
        SMA,
        {"fast": {"low": 1, "high": 100, "step": 1}, "slow": {"low": 2, "high": 301, "step": 1}},
    )
    with pytest.raises(InvalidInput) as err:
        grid_points(SMA, space, max_trials=10_000)
    assert "30,000 points" in err.value.message
    assert "10,000" in err.value.message
    assert err.value.field == "space"


def test_a_bound_no_combination_accepts_is_refused_naming_it() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_space(SMA, {"fast": {"low": 10, "high": 50, "step": 5}, "slow": [20, 30]})
    assert err.value.field == "space.fast"
    assert "50 is refused" in err.value.message
    assert "shorter than slow" in err.value.message


@given(
    low=st.integers(1, 50),
    width=st.integers(0, 100),
    step=st.integers(1, 20),
    seed=st.integers(0, 2**32 - 1),
)
def test_grid_and_samples_stay_inside_the_range_and_on_the_step(
    low: int, width: int, step: int, seed: int
) -> None:
    high = low + width
    space = parse_space(SMA, {"fast": {"low": low, "high": high, "step": step}, "slow": 500})
    values = [p["fast"] for p in grid_points(SMA, space).points]
    assert values == list(range(low, high + 1, step))
    drawn = sample_point(SMA, space, np.random.default_rng(seed))["fast"]
    assert low <= drawn <= high
    assert (drawn - low) % step == 0
    parse_params(SMA, space.params_of({"fast": drawn}))


@given(low=st.floats(0.01, 10.0), ratio=st.floats(1.0, 1e4), seed=st.integers(0, 2**32 - 1))
def test_log_samples_stay_inside_the_range(low: float, ratio: float, seed: int) -> None:
    space = parse_space(ARB, {"threshold_bps": {"low": low, "high": low * ratio, "log": True}})
    drawn = sample_point(ARB, space, np.random.default_rng(seed))["threshold_bps"]
    assert low * (1 - 1e-12) <= drawn <= low * ratio * (1 + 1e-12)


def test_a_huge_range_is_refused_by_its_size_without_being_built() -> None:
    space = parse_space(ARB, {"threshold_bps": {"low": 0, "high": 1e300, "step": 1e-300}})
    with pytest.raises(InvalidInput, match="points"):
        grid_points(ARB, space, max_trials=10_000)
    drawn = sample_point(ARB, space, np.random.default_rng(0))["threshold_bps"]
    assert 0 <= drawn <= 1e300
    with pytest.raises(InvalidInput, match="plain values"):
        parse_space(SMA, {"entry": [{"a": 1}]})
    with pytest.raises(InvalidInput, match="step or a count"):
        grid_points(ARB, parse_space(ARB, {"threshold_bps": {"low": 1, "high": 5}}))
