"""Downsampling for display keeps the ends and the extremes, and stays within its budget."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from arbx.domain.reports.downsample import minmax_indices, union_indices

finite = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
with_nans = st.one_of(finite, st.just(float("nan")))


@settings(max_examples=200, deadline=None)
@given(
    values=arrays(np.float64, st.integers(1, 3000), elements=with_nans),
    target=st.integers(4, 400),
)
def test_keeps_ends_extremes_and_budget(values: np.ndarray, target: int) -> None:
    idx = minmax_indices(values, target)
    n = values.size
    assert idx.dtype == np.int64
    assert np.all(np.diff(idx) > 0)  # sorted, unique
    assert idx[0] == 0
    assert idx[-1] == n - 1
    assert idx.size <= max(target, n if n <= target else target)
    if n <= target:
        assert idx.tolist() == list(range(n))
    if np.isfinite(values).any():
        kept = values[idx]
        assert np.nanmax(kept) == np.nanmax(values)
        assert np.nanmin(kept) == np.nanmin(values)


@settings(max_examples=100, deadline=None)
@given(
    values=arrays(np.float64, st.integers(500, 5000), elements=finite),
    target=st.integers(8, 200),
)
def test_every_bucket_extreme_is_kept(values: np.ndarray, target: int) -> None:
    """The drawn line reaches every bucket's high and low: the max over any window of
    about a bucket's width is no higher in the original than in the kept points around it."""
    idx = minmax_indices(values, target)
    edges = np.linspace(0, values.size, target // 4 + 1).astype(int)
    kept = set(idx.tolist())
    for lo, hi in itertools.pairwise(edges):
        if hi > lo:
            window = values[lo:hi]
            assert any(lo <= i < hi and values[i] == window.max() for i in kept)
            assert any(lo <= i < hi and values[i] == window.min() for i in kept)


def test_a_million_points_become_a_few_thousand() -> None:
    rng = np.random.default_rng(7)
    walk = np.cumsum(rng.normal(size=1_000_000))
    idx = minmax_indices(walk, 4000)
    assert 3000 <= idx.size <= 4000
    assert walk[idx].max() == walk.max()
    assert walk[idx].min() == walk.min()


def test_union_keeps_each_traces_extremes() -> None:
    x = np.linspace(0, 20, 10_000)
    a, b = np.sin(x), np.cos(3 * x) * 0.5
    idx = union_indices([a, b], 400)
    assert idx.size <= 400
    assert a[idx].max() == a.max()
    assert b[idx].min() == b.min()
    assert union_indices([], 400).size == 0


def test_target_below_four_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        minmax_indices(np.zeros(10), 3)
