"""The documented score formulas, computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from arbx.domain.quality import Rule, Severity, bar_scores, series_score
from arbx.domain.quality.model import ISSUE_SCHEMA

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


def issues(*rows: tuple[int, str, Severity, float | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [(at(i), rule, sev.value, obs, None, "") for i, rule, sev, obs in rows],
        schema=dict(ISSUE_SCHEMA),
        orient="row",
    )


FINDINGS = issues(
    (1, Rule.PRICE_NOT_POSITIVE, Severity.ERROR, -1.0),
    (1, Rule.HIGH_BELOW_LOW, Severity.ERROR, 1.0),
    (2, Rule.RETURN_OUTLIER_MAD, Severity.WARNING, 20.0),
    (2, Rule.RETURN_OUTLIER_IQR, Severity.INFO, 0.1),
    (3, Rule.RETURN_OUTLIER_IQR, Severity.INFO, 0.1),
    (5, Rule.STALE_RUN, Severity.INFO, 3.0),
)


def test_bar_score_multiplies_one_factor_per_severity_and_stale() -> None:
    ts = pl.Series("ts", [at(i) for i in range(10)]).cast(ISSUE_SCHEMA["ts"])
    stale = np.zeros(10, dtype=bool)
    stale[5:8] = True

    scores = bar_scores(ts, FINDINGS, stale).to_list()

    assert scores[0] == 1.0
    assert scores[1] == 0.0
    assert scores[2] == pytest.approx(0.5 * 0.9)
    assert scores[3] == pytest.approx(0.9)
    assert scores[5] == pytest.approx(0.8)  # the stale run's own finding is not an info hit
    assert scores[6] == pytest.approx(0.8)
    assert scores[8] == 1.0


def test_series_score_follows_the_documented_formula() -> None:
    score = series_score(FINDINGS, present_bars=10, expected_bars=20, excused_bars=5)

    expected = 0.75 * (1 - 1 / 10) * (1 - 0.5 * 1 / 10) * (1 - 0.1 * 2 / 10) * (1 - 0.2 * 3 / 10)
    assert score.score == pytest.approx(expected)
    assert score.coverage == 0.75
    assert (score.error_bars, score.warning_bars, score.info_bars) == (1, 1, 2)
    assert score.stale_bars == 3
    assert score.issue_counts == {
        Rule.HIGH_BELOW_LOW: 1,
        Rule.PRICE_NOT_POSITIVE: 1,
        Rule.RETURN_OUTLIER_IQR: 2,
        Rule.RETURN_OUTLIER_MAD: 1,
        Rule.STALE_RUN: 1,
    }


def test_empty_series_scores_zero_and_clean_full_series_one() -> None:
    empty = issues()
    assert series_score(empty, present_bars=0, expected_bars=10).score == 0.0
    assert series_score(empty, present_bars=10, expected_bars=10).score == 1.0
