"""Quality scores in [0, 1], computed from the findings.

Per bar::

    bar_score = (1 - 1.0 * E) * (1 - 0.5 * W) * (1 - 0.1 * I) * (1 - 0.2 * S)

where E, W, I are 1 when the bar has at least one ``error`` / ``warning`` / ``info`` finding
(0 otherwise; a stale run's own finding is not counted in I) and S is 1 when the bar is part of
a stale run. A bar with an integrity error scores 0; a clean bar 1; a stale bar 0.8.

Per series (over the span that was checked)::

    coverage  = min(1, (present + excused) / expected)
    score     = coverage
                * (1 - error_bars / present)
                * (1 - 0.5 * warning_bars / present)
                * (1 - 0.1 * info_bars / present)
                * (1 - 0.2 * stale_bars / present)

``expected`` is the number of grid slots in the span, ``present`` the bars stored, ``excused``
the missing slots explained as "no trades" (a venue that omits quiet minutes is not penalised
for them), ``X_bars`` the number of distinct bars with at least one finding of severity X
(stale runs excluded from info) and ``stale_bars`` the bars inside stale runs. A series without
bars scores 0.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from arbx.domain.quality.model import Rule, SeriesScore, Severity

SEVERITY_WEIGHT: dict[Severity, float] = {
    Severity.ERROR: 1.0,
    Severity.WARNING: 0.5,
    Severity.INFO: 0.1,
}
STALE_WEIGHT = 0.2


def _flagged(issues: pl.DataFrame) -> pl.DataFrame:
    """Per ts with findings: one boolean column per severity (stale runs excluded)."""
    return (
        issues.lazy()
        .filter(pl.col("rule") != Rule.STALE_RUN)
        .group_by("ts")
        .agg(
            *(
                (pl.col("severity") == severity.value).any().alias(severity.value)
                for severity in SEVERITY_WEIGHT
            )
        )
        .collect()
    )


def bar_scores(ts: pl.Series, issues: pl.DataFrame, stale: np.ndarray) -> pl.Series:
    """The ``quality_score`` of each bar, aligned with ``ts`` (sorted, unique; see module doc)."""
    base = np.where(stale, 1.0 - STALE_WEIGHT, 1.0)
    if issues.is_empty():
        return pl.Series("quality_score", base)
    factor = pl.lit(1.0)
    for severity, weight in SEVERITY_WEIGHT.items():
        factor = factor * pl.when(pl.col(severity.value)).then(1.0 - weight).otherwise(1.0)
    flagged = _flagged(issues).select(pl.col("ts").dt.epoch("ms"), factor.alias("f"))
    bar_ms = ts.dt.epoch("ms").to_numpy()
    hit_ms = flagged.get_column("ts").to_numpy()
    at = np.searchsorted(bar_ms, hit_ms)
    inside = at < bar_ms.size
    matches = np.zeros(hit_ms.size, dtype=bool)
    matches[inside] = bar_ms[at[inside]] == hit_ms[inside]
    base[at[matches]] *= flagged.get_column("f").to_numpy()[matches]
    return pl.Series("quality_score", base)


def series_score(
    issues: pl.DataFrame,
    *,
    present_bars: int,
    expected_bars: int,
    excused_bars: int = 0,
) -> SeriesScore:
    """The per-series score and its parts (see the module docstring)."""
    flagged = _flagged(issues) if not issues.is_empty() else None
    counts = {
        severity: int(flagged.get_column(severity.value).sum()) if flagged is not None else 0
        for severity in SEVERITY_WEIGHT
    }
    stale_bars = int(
        issues.filter(pl.col("rule") == Rule.STALE_RUN).get_column("observed").sum() or 0
    )
    by_rule = dict(issues.group_by("rule").len().sort("rule").iter_rows()) if issues.height else {}
    coverage = min(1.0, (present_bars + excused_bars) / expected_bars) if expected_bars > 0 else 0.0
    if present_bars <= 0:
        score = 0.0
        stale_share = 0.0
    else:
        stale_share = min(1.0, stale_bars / present_bars)
        score = coverage * (1.0 - STALE_WEIGHT * stale_share)
        for severity, weight in SEVERITY_WEIGHT.items():
            score *= 1.0 - weight * min(1.0, counts[severity] / present_bars)
    return SeriesScore(
        score=max(0.0, min(1.0, score)),
        coverage=coverage,
        expected_bars=expected_bars,
        present_bars=present_bars,
        excused_bars=excused_bars,
        error_bars=counts[Severity.ERROR],
        warning_bars=counts[Severity.WARNING],
        info_bars=counts[Severity.INFO],
        stale_bars=stale_bars,
        stale_share=stale_share,
        issue_counts={str(k): int(v) for k, v in by_rule.items()},
    )
