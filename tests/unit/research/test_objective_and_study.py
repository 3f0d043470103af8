"""Objectives, constraints, the best trial and the stored return buckets."""

from __future__ import annotations

import numpy as np
import pytest

from arbx.domain.errors import InvalidInput
from arbx.domain.research.objective import TrialMetrics, parse_objective
from arbx.domain.research.study import Trial, best_trial, bucket_returns


def trial(number: int, value: float | None, status: str = "done") -> Trial:
    return Trial(study_id="s", number=number, params={}, seed=0, status=status, value=value)  # type: ignore[arg-type]


def test_an_objective_reads_its_metric_under_the_trade_constraint() -> None:
    m = TrialMetrics(sharpe=1.5, net_pnl=120.0, trade_count=4)
    assert parse_objective("sharpe").value(m) == 1.5
    assert parse_objective("net_pnl", "minimize").value(m) == 120.0
    assert parse_objective("sharpe", min_trades=5).value(m) is None
    assert parse_objective("calmar").value(m) is None  # undefined metric: infeasible


def test_best_trial_follows_the_direction_and_skips_infeasible_and_failed() -> None:
    trials = [trial(0, 1.0), trial(1, None), trial(2, 3.0, "failed"), trial(3, 2.0), trial(4, 2.0)]
    best = best_trial(trials, parse_objective("sharpe"))
    assert best is not None
    assert best.number == 3
    worst = best_trial(trials, parse_objective("sharpe", "minimize"))
    assert worst is not None
    assert worst.number == 0
    assert best_trial([trial(0, None)], parse_objective("sharpe")) is None


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("sharp",), "objective.metric"),
        (("sharpe", "up"), "objective.direction"),
        (("sharpe", "maximize", -1), "objective.min_trades"),
    ],
)
def test_bad_objectives_name_their_field(args: tuple[object, ...], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_objective(*args)  # type: ignore[arg-type]
    assert err.value.field == field


def test_bucket_returns_compound_to_the_total_return() -> None:
    rng = np.random.default_rng(0)
    equity = 1000 * np.cumprod(1 + rng.normal(0, 0.01, 1001))
    r = bucket_returns(equity, 1000.0, buckets=10)
    assert len(r) == 10
    assert np.prod(1 + np.asarray(r)) == pytest.approx(equity[-1] / 1000.0)
    assert len(bucket_returns(equity[:5], 1000.0)) == 5
    assert bucket_returns(np.zeros(0), 1.0) == []
