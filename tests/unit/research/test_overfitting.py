"""Deflated Sharpe ratio and PBO: the papers' worked example and an independent
reimplementation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.errors import InvalidInput
from arbx.domain.research.overfitting import (
    deflated_sharpe,
    deflated_sharpe_of,
    expected_max_sharpe,
    moments,
    pbo_cscv,
    probabilistic_sharpe,
)


def test_deflated_sharpe_reproduces_the_papers_numerical_example() -> None:
    # Bailey & Lopez de Prado (2014), section 4: annualized SR 2.5 after N = 100 trials whose
    # annualized Sharpe ratios have variance 0.5, T = 1250 daily returns (5 years), skew -3,
    # kurtosis 10: SR0 = 0.1132 (non-annualized) and DSR = 0.9004.
    days = 250
    sr = 2.5 / math.sqrt(days)
    sr0 = expected_max_sharpe(100, 0.5 / days)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert deflated_sharpe(sr, 1250, -3.0, 10.0, 100, 0.5 / days) == pytest.approx(0.9004, abs=5e-5)


def test_one_trial_deflates_nothing_and_more_trials_deflate_more() -> None:
    assert expected_max_sharpe(1, 0.01) == 0.0
    values = [expected_max_sharpe(n, 0.01) for n in (2, 10, 100, 1000)]
    assert values == sorted(values)
    assert values[0] > 0
    psr = probabilistic_sharpe(0.1, 0.0, 500, 0.0, 3.0)
    # normal returns: PSR = Phi(SR sqrt(T-1) / sqrt(1 + SR^2 / 2))
    z = 0.1 * math.sqrt(499) / math.sqrt(1 + 0.01 / 2)
    assert psr == pytest.approx(0.5 * (1 + math.erf(z / math.sqrt(2))))


def test_deflated_sharpe_of_returns_uses_the_sample_moments() -> None:
    rng = np.random.default_rng(3)
    best = rng.normal(0.001, 0.01, 1000)
    sharpes = rng.normal(0.0, 0.03, 50)
    d = deflated_sharpe_of(best, sharpes)
    mu, sd = best.mean(), best.std(ddof=1)
    c = best - mu
    assert d.sharpe == pytest.approx(mu / sd)
    assert d.skew == pytest.approx(np.mean(c**3) / np.mean(c**2) ** 1.5)
    assert d.kurtosis == pytest.approx(np.mean(c**4) / np.mean(c**2) ** 2)
    assert d.sharpe_variance == pytest.approx(sharpes.var(ddof=1))
    assert d.probability == pytest.approx(
        deflated_sharpe(d.sharpe, 1000, d.skew, d.kurtosis, 50, d.sharpe_variance)
    )
    assert moments(np.ones(10)) == (0.0, 0.0, 3.0)


def reference_pbo(m: np.ndarray, s: int) -> float:
    """An independent CSCV, written from the paper's steps with a dense rank."""
    t, n = m.shape
    size = t // s
    rows = [np.arange(i * size, (i + 1) * size) for i in range(s)]
    # spread the remainder as numpy's array_split does
    bounds = np.array_split(np.arange(t), s)
    rows = list(bounds)
    below_median = 0
    combos = list(itertools.combinations(range(s), s // 2))
    for c in combos:
        j = np.concatenate([rows[i] for i in c])
        jbar = np.concatenate([rows[i] for i in range(s) if i not in c])
        r_is = m[j].mean(0) / m[j].std(0, ddof=1)
        r_oos = m[jbar].mean(0) / m[jbar].std(0, ddof=1)
        star = np.argmax(r_is)
        order = r_oos.argsort().argsort() + 1  # ranks 1..N (no ties in continuous data)
        w = order[star] / (n + 1)
        below_median += math.log(w / (1 - w)) <= 0
    return below_median / len(combos)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 12), s=st.sampled_from([2, 4, 6, 8]))
def test_pbo_matches_an_independent_reimplementation(seed: int, n: int, s: int) -> None:
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0, 0.01, (16 * s + 3, n)) + rng.normal(0, 0.002, n)
    got = pbo_cscv(m, splits=s)
    assert got.probability == pytest.approx(reference_pbo(m, s))
    assert got.combinations == math.comb(s, s // 2)
    assert 0.0 <= got.probability <= 1.0


def test_pbo_is_low_for_a_dominant_trial_and_near_half_for_noise() -> None:
    rng = np.random.default_rng(11)
    noise = rng.normal(0.0, 0.01, (1000, 20))
    skilled = noise.copy()
    skilled[:, 7] += 0.01  # one trial truly better in every period
    assert pbo_cscv(skilled, splits=10).probability == 0.0
    many = [pbo_cscv(rng.normal(0.0, 0.01, (400, 30)), splits=8).probability for _ in range(8)]
    assert 0.25 < float(np.mean(many)) < 0.75


def test_pbo_refuses_what_it_cannot_compute() -> None:
    with pytest.raises(InvalidInput, match="at least 2 trials"):
        pbo_cscv(np.zeros((100, 1)))
    with pytest.raises(InvalidInput, match="even"):
        pbo_cscv(np.zeros((100, 3)), splits=5)
    with pytest.raises(InvalidInput, match="at least 32 periods"):
        pbo_cscv(np.zeros((20, 3)), splits=16)
