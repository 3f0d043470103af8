"""Overfitting diagnostics computed on a study's trials.

Deflated Sharpe ratio (Bailey and Lopez de Prado, "The Deflated Sharpe Ratio", 2014): the
probability that the best trial's true Sharpe ratio is above the one expected of the best
of ``N`` unskilled trials,

    SR0 = sqrt(V[SR_n]) * ((1 - g) * Z(1 - 1/N) + g * Z(1 - 1/(N e)))      g = 0.5772...
    DSR = Phi((SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR^2))

with every Sharpe ratio per observation (not annualized), ``V[SR_n]`` the variance of the
trials' Sharpe ratios, ``T`` the number of returns, ``skew`` and ``kurt`` (not excess) the
best trial's return moments. With ``SR0 = 0`` it is the probabilistic Sharpe ratio.

Probability of backtest overfitting by combinatorially symmetric cross-validation (Bailey,
Borwein, Lopez de Prado and Zhu, "The Probability of Backtest Overfitting", 2015): split the
``T x N`` matrix of per-period returns (one column per trial) into ``S`` row blocks; for
each of the C(S, S/2) halves taken as in-sample (the rest out-of-sample) pick the trial with
the best in-sample Sharpe ratio, take its relative rank ``w`` out of sample
(``rank / (N + 1)``) and ``logit = ln(w / (1 - w))``. PBO is the share of halves with
``logit <= 0``: the in-sample winner did no better than the median out of sample.
"""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import msgspec
import numpy as np

from arbx.domain.backtest.kernels import FloatArray
from arbx.domain.errors import InvalidInput

EULER_GAMMA = 0.5772156649015329
_N = NormalDist()
MAX_COMBINATIONS = 12_870  # C(16, 8)


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """``SR0``: the expected maximum Sharpe ratio of ``n_trials`` unskilled trials whose
    Sharpe ratios have variance ``variance`` (same units as the Sharpe ratios)."""
    if n_trials < 1:
        raise InvalidInput("the number of trials must be >= 1", field="n_trials")
    if n_trials == 1 or variance <= 0:
        return 0.0
    n = float(n_trials)
    z1 = _N.inv_cdf(1.0 - 1.0 / n)
    z2 = _N.inv_cdf(1.0 - 1.0 / (n * math.e))
    return math.sqrt(variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def probabilistic_sharpe(
    sharpe: float, benchmark: float, n_obs: int, skew: float, kurtosis: float
) -> float:
    """P(true SR > ``benchmark``) given an observed per-period ``sharpe`` over ``n_obs``
    returns with ``skew`` and ``kurtosis`` (not excess: 3 for a normal)."""
    if n_obs < 2:
        raise InvalidInput("need at least 2 returns", field="n_obs")
    denom = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if denom <= 0:
        denom = 1e-12
    return _N.cdf((sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(denom))


def deflated_sharpe(
    sharpe: float, n_obs: int, skew: float, kurtosis: float, n_trials: int, variance: float
) -> float:
    return probabilistic_sharpe(
        sharpe, expected_max_sharpe(n_trials, variance), n_obs, skew, kurtosis
    )


def moments(r: FloatArray) -> tuple[float, float, float]:
    """Per-period Sharpe ratio (mean / std, ddof=1), skewness and kurtosis (not excess) of
    ``r``; zeros for a constant series."""
    r = np.asarray(r, dtype=np.float64)
    if r.size < 2:
        return 0.0, 0.0, 3.0
    mu = float(r.mean())
    sd = float(r.std(ddof=1))
    if sd == 0:
        return 0.0, 0.0, 3.0
    c = r - mu
    m2 = float(np.mean(c**2))
    skew = float(np.mean(c**3)) / m2**1.5
    kurt = float(np.mean(c**4)) / m2**2
    return mu / sd, skew, kurt


class DeflatedSharpe(msgspec.Struct, frozen=True):
    """The deflated Sharpe ratio of a study's best trial (per-period figures)."""

    sharpe: float
    expected_max_sharpe: float
    trials: int
    sharpe_variance: float
    observations: int
    skew: float
    kurtosis: float
    probability: float


def deflated_sharpe_of(best: FloatArray, trial_sharpes: FloatArray) -> DeflatedSharpe:
    """DSR of the returns ``best`` given every trial's per-period Sharpe ratio."""
    sr, skew, kurt = moments(best)
    sharpes = np.asarray(trial_sharpes, dtype=np.float64)
    sharpes = sharpes[np.isfinite(sharpes)]
    variance = float(sharpes.var(ddof=1)) if sharpes.size > 1 else 0.0
    n = max(int(sharpes.size), 1)
    sr0 = expected_max_sharpe(n, variance)
    prob = probabilistic_sharpe(sr, sr0, int(np.asarray(best).size), skew, kurt)
    return DeflatedSharpe(sr, sr0, n, variance, int(np.asarray(best).size), skew, kurt, prob)


class Pbo(msgspec.Struct, frozen=True):
    """PBO by CSCV: the probability, the logits of every split and their count."""

    probability: float
    splits: int
    combinations: int
    logits: list[float]
    trials: int


def _sharpe_columns(block: FloatArray) -> FloatArray:
    mu = block.mean(axis=0)
    sd = block.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(sd > 0, mu / sd, 0.0)
    return np.asarray(out, dtype=np.float64)


def pbo_cscv(returns: FloatArray, splits: int = 16) -> Pbo:
    """PBO of a ``T x N`` matrix of per-period returns (N trials, T periods in time order)
    with ``splits`` row blocks (even, 2..16; T >= 2 * splits)."""
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2:
        raise InvalidInput("PBO needs the returns of at least 2 trials", field="trials")
    if splits < 2 or splits % 2 or splits > 16:
        raise InvalidInput(f"splits must be even, 2..16, got {splits}", field="splits")
    t, n = m.shape
    if t < 2 * splits:
        raise InvalidInput(
            f"PBO with {splits} splits needs at least {2 * splits} periods, got {t}",
            field="splits",
        )
    blocks = np.array_split(np.arange(t), splits)
    logits: list[float] = []
    combos = list(itertools.combinations(range(splits), splits // 2))[:MAX_COMBINATIONS]
    for chosen in combos:
        inside = set(chosen)
        is_rows = np.concatenate([blocks[i] for i in range(splits) if i in inside])
        oos_rows = np.concatenate([blocks[i] for i in range(splits) if i not in inside])
        is_perf = _sharpe_columns(m[is_rows])
        oos_perf = _sharpe_columns(m[oos_rows])
        best = int(np.argmax(is_perf))
        value = oos_perf[best]
        below = int(np.sum(oos_perf < value))
        equal = int(np.sum(oos_perf == value))
        rank = below + (equal + 1) / 2.0  # 1..N, ties at their mean rank
        w = rank / (n + 1)
        logits.append(math.log(w / (1.0 - w)))
    prob = float(np.mean(np.asarray(logits) <= 0.0))
    return Pbo(prob, splits, len(combos), logits, n)
