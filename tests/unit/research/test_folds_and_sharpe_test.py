"""Walk-forward folds and the Jobson-Korkie-Memmel test."""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.research.folds import FoldMode, walk_forward_folds
from arbx.domain.research.sharpe_test import jobson_korkie_memmel


def test_rolling_folds_slide_and_anchored_folds_grow() -> None:
    rolling = walk_forward_folds(100, train=40, test=20)
    assert [(f.train_start, f.train_end, f.test_start, f.test_end) for f in rolling] == [
        (0, 40, 40, 60),
        (20, 60, 60, 80),
        (40, 80, 80, 100),
    ]
    anchored = walk_forward_folds(100, train=40, test=20, mode="anchored")
    assert [(f.train_start, f.train_end) for f in anchored] == [(0, 40), (0, 60), (0, 80)]
    gap = walk_forward_folds(100, train=40, test=20, purge=5, embargo=3, step=25)
    assert [(f.train_end, f.test_start, f.test_end) for f in gap] == [(35, 43, 63), (60, 68, 88)]


@given(
    n=st.integers(10, 2000),
    train=st.integers(1, 300),
    test=st.integers(1, 300),
    step=st.integers(1, 300),
    purge=st.integers(0, 20),
    embargo=st.integers(0, 20),
    anchored=st.booleans(),
)
def test_folds_never_leak_and_stay_inside_the_bars(
    n: int, train: int, test: int, step: int, purge: int, embargo: int, anchored: bool
) -> None:
    if purge >= train:
        return
    mode: FoldMode = "anchored" if anchored else "rolling"
    kwargs = {"train": train, "test": test, "step": step, "purge": purge, "embargo": embargo}
    if train + embargo + test > n:
        with pytest.raises(InvalidInput, match="needs"):
            walk_forward_folds(n, mode=mode, **kwargs)
        return
    folds = walk_forward_folds(n, mode=mode, **kwargs)
    for f in folds:
        assert 0 <= f.train_start < f.train_end <= f.test_start
        assert f.test_start - f.train_end == purge + embargo
        assert f.test_end - f.test_start == test
        assert f.test_end <= n
    starts = [f.test_start for f in folds]
    assert all(b - a == step for a, b in itertools.pairwise(starts))


def test_folds_that_do_not_fit_say_what_they_need() -> None:
    with pytest.raises(InvalidInput) as err:
        walk_forward_folds(50, train=40, test=20)
    assert "needs 60" in err.value.message
    assert err.value.field == "folds"
    with pytest.raises(InvalidInput, match="purge"):
        walk_forward_folds(500, train=10, test=20, purge=10)


def memmel_raw(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The test in Memmel's (2003) moment form: z = (mu_a s_b - mu_b s_a) / sqrt(theta),
    with his corrected last term of theta (Jobson and Korkie had
    -mu_a mu_b / (2 s_a s_b) * (cov^2 + s_a^2 s_b^2))."""
    t = a.size
    mu_a, mu_b = a.mean(), b.mean()
    va, vb = a.var(ddof=1), b.var(ddof=1)
    sa, sb = math.sqrt(va), math.sqrt(vb)
    cov = np.cov(a, b, ddof=1)[0, 1]
    theta = (
        2 * va * vb
        - 2 * sa * sb * cov
        + 0.5 * mu_a**2 * vb
        + 0.5 * mu_b**2 * va
        - mu_a * mu_b / (sa * sb) * cov**2
    ) / t
    z = (mu_a * sb - mu_b * sa) / math.sqrt(theta)
    return z, 2 * (1 - NormalDist().cdf(abs(z)))


@given(seed=st.integers(0, 2**32 - 1), rho=st.floats(-0.9, 0.9), t=st.integers(30, 3000))
def test_jobson_korkie_memmel_matches_the_moment_form(seed: int, rho: float, t: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(t, 2))
    a = 0.001 + 0.01 * x[:, 0]
    b = 0.0005 + 0.02 * (rho * x[:, 0] + math.sqrt(1 - rho**2) * x[:, 1])
    got = jobson_korkie_memmel(a, b)
    z, p = memmel_raw(a, b)
    assert got.z == pytest.approx(z, rel=1e-9, abs=1e-12)
    assert got.p_value == pytest.approx(p, rel=1e-9, abs=1e-12)
    assert "Memmel" in got.method


def test_identical_runs_do_not_differ_and_annualizing_scales_the_ratios() -> None:
    r = np.random.default_rng(1).normal(0.001, 0.01, 500)
    same = jobson_korkie_memmel(r, r, periods_per_year=365)
    assert same.difference == 0.0
    assert same.z == 0.0
    assert same.p_value == pytest.approx(1.0)
    assert same.sharpe_a == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365))
    with pytest.raises(InvalidInput, match="at least 3"):
        jobson_korkie_memmel(r[:2], r[:2])
