"""Is one Sharpe ratio significantly different from another on the same periods?

Jobson and Korkie (1981) with Memmel's (2003) correction. For two return series over the
same ``T`` periods with per-period Sharpe ratios ``SR_a``, ``SR_b`` and correlation ``rho``:

    theta = (2 - 2 rho + (SR_a^2 + SR_b^2 - 2 SR_a SR_b rho^2) / 2) / T
    z = (SR_a - SR_b) / sqrt(theta),   p = 2 (1 - Phi(|z|))  (two-sided)

It assumes returns that are i.i.d. normal over time; the answer names the method.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import msgspec
import numpy as np

from arbx.domain.backtest.kernels import FloatArray
from arbx.domain.errors import InvalidInput

METHOD = "Jobson-Korkie test with Memmel's correction (i.i.d. normal returns assumed)"


class SharpeDifference(msgspec.Struct, frozen=True):
    """Per-period Sharpe ratios (annualized with ``periods_per_year`` when given)."""

    sharpe_a: float
    sharpe_b: float
    difference: float
    correlation: float
    z: float | None
    p_value: float | None  # two-sided
    observations: int
    method: str = METHOD


def jobson_korkie_memmel(
    a: FloatArray, b: FloatArray, periods_per_year: float | None = None
) -> SharpeDifference:
    ra = np.asarray(a, dtype=np.float64)
    rb = np.asarray(b, dtype=np.float64)
    if ra.shape != rb.shape or ra.ndim != 1:
        raise InvalidInput("the two return series must cover the same periods", field="ids")
    t = int(ra.size)
    if t < 3:
        raise InvalidInput(
            f"the runs overlap on {t} bars; a Sharpe test needs at least 3", field="ids"
        )
    sa, sb = float(ra.std(ddof=1)), float(rb.std(ddof=1))
    scale = math.sqrt(periods_per_year) if periods_per_year else 1.0
    if sa == 0 or sb == 0:
        sr_a = 0.0 if sa == 0 else float(ra.mean()) / sa
        sr_b = 0.0 if sb == 0 else float(rb.mean()) / sb
        return SharpeDifference(
            sr_a * scale, sr_b * scale, (sr_a - sr_b) * scale, 0.0, None, None, t
        )
    sr_a, sr_b = float(ra.mean()) / sa, float(rb.mean()) / sb
    rho = float(np.corrcoef(ra, rb)[0, 1])
    theta = (2.0 - 2.0 * rho + 0.5 * (sr_a**2 + sr_b**2 - 2.0 * sr_a * sr_b * rho**2)) / t
    if sr_a == sr_b:
        z, p = 0.0, 1.0
    elif theta <= 0:  # perfectly correlated series with different ratios: no test
        z, p = None, None
    else:
        z = (sr_a - sr_b) / math.sqrt(theta)
        p = 2.0 * (1.0 - NormalDist().cdf(abs(z)))
    return SharpeDifference(sr_a * scale, sr_b * scale, (sr_a - sr_b) * scale, rho, z, p, t)
