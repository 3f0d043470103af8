"""known_volume: the volume a decision at bar t may use (bars up to t, never after)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbx.domain.backtest.costs import known_volume
from arbx.domain.errors import InvalidInput


def test_trailing_mean_over_the_window_including_the_bar() -> None:
    out = known_volume(np.array([1.0, 2.0, 3.0, 10.0]), 2)
    np.testing.assert_allclose(out, [1.0, 1.5, 2.5, 6.5])


def test_missing_bars_are_absent_not_zero_volume() -> None:
    out = known_volume(np.array([np.nan, 4.0, np.nan, 8.0]), 3)
    np.testing.assert_allclose(out, [0.0, 4.0, 4.0, 6.0])


def test_window_must_be_positive() -> None:
    with pytest.raises(InvalidInput):
        known_volume(np.ones(3), 0)


@given(
    st.lists(st.floats(0.0, 1e6), min_size=2, max_size=60),
    st.integers(1, 10),
    st.data(),
)
def test_a_change_after_bar_t_never_moves_the_value_at_t(
    volume: list[float], window: int, data: st.DataObject
) -> None:
    base = np.asarray(volume)
    cut = data.draw(st.integers(0, base.size - 2))
    bumped = base.copy()
    bumped[cut + 1 :] = bumped[cut + 1 :] * 7.0 + 1.0
    np.testing.assert_array_equal(
        known_volume(base, window)[: cut + 1], known_volume(bumped, window)[: cut + 1]
    )
