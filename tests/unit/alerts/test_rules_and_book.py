"""Alert rules are checked field by field; the book fires once (dedup), resolves, and keeps
quiet within the cooldown."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from arbx.domain.alerts import (
    AlertBook,
    AlertRule,
    AlertRuleSpec,
    Condition,
    RuleKind,
    RuleOrigin,
    TransitionState,
)
from arbx.domain.errors import InvalidInput

T0 = datetime(2025, 3, 1, tzinfo=UTC)
A, B = "binance:BTC/USDC:1m", "kraken:BTC/USDC:1m"


def make(**fields: object) -> AlertRule:
    spec = {"name": "r", "kind": "collector_stale", "threshold": 5.0, **fields}
    return AlertRule.from_spec(
        AlertRuleSpec(**spec),  # type: ignore[arg-type]
        id="r1",
        origin=RuleOrigin.API,
        created_at=T0,
        known_channels=frozenset({"hook", "mail"}),
    )


def book() -> AlertBook:
    ids = itertools.count(1)
    return AlertBook(lambda: f"t{next(ids)}")


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"name": "Bad Name"}, "name", "lowercase"),
        ({"kind": "stale"}, "kind", "collector_stale, quality_below"),
        ({"threshold": None}, "threshold", "need a threshold"),
        ({"kind": "quality_below", "threshold": 1.5}, "threshold", "between 0 and 1"),
        ({"kind": "breaker_open", "threshold": 1.0}, "threshold", "take no threshold"),
        ({"severity": "loud"}, "severity", "info, warning or critical"),
        ({"cooldown_s": -1.0}, "cooldown_s", "between 0"),
        ({"channels": ["hook", "pager"]}, "channels", "unknown channel(s) pager"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    fields: dict[str, object], field: str, text: str
) -> None:
    with pytest.raises(InvalidInput, match=text.replace("(", r"\(").replace(")", r"\)")) as info:
        make(**fields)
    assert info.value.field == field


def test_defaults_per_kind() -> None:
    assert make(kind="job_failing", threshold=None).threshold == 3.0
    assert make(kind="outage_gap", threshold=None).threshold == 1.0
    assert make(kind="backtest_failed", threshold=None).threshold is None
    assert make(kind="spread_above", threshold=25.0).kind is RuleKind.SPREAD_ABOVE


def test_fires_once_while_the_condition_holds_then_resolves() -> None:
    alerts, rule = book(), make(cooldown_s=0)
    fired = alerts.step(rule, {A: Condition(7.0, "7 min old")}, T0)
    assert [(t.subject, t.state, t.value) for t in fired] == [(A, TransitionState.FIRING, 7.0)]
    assert alerts.step(rule, {A: Condition(8.0, "8 min old")}, T0 + timedelta(minutes=1)) == []
    resolved = alerts.step(rule, {}, T0 + timedelta(minutes=2))
    assert [(t.subject, t.state) for t in resolved] == [(A, TransitionState.RESOLVED)]
    assert resolved[0].summary == "resolved: 8 min old"
    assert alerts.step(rule, {}, T0 + timedelta(minutes=3)) == []


def test_cooldown_keeps_a_flapping_alert_quiet() -> None:
    alerts, rule = book(), make(cooldown_s=600)
    assert len(alerts.step(rule, {A: Condition(1.0, "x")}, T0)) == 1
    assert len(alerts.step(rule, {}, T0 + timedelta(minutes=1))) == 1  # resolved
    assert alerts.step(rule, {A: Condition(1.0, "x")}, T0 + timedelta(minutes=2)) == []
    again = alerts.step(rule, {A: Condition(1.0, "x")}, T0 + timedelta(minutes=10))
    assert [t.state for t in again] == [TransitionState.FIRING]


def test_match_narrows_the_subjects_and_restore_brings_back_firing() -> None:
    alerts, rule = book(), make(match="binance:*", cooldown_s=0)
    fired = alerts.step(rule, {A: Condition(1.0, "a"), B: Condition(1.0, "b")}, T0)
    assert [t.subject for t in fired] == [A]
    restored = book()
    restored.restore(fired)
    assert restored.step(rule, {A: Condition(2.0, "a")}, T0 + timedelta(minutes=1)) == []
    assert [t.state for t in restored.step(rule, {}, T0 + timedelta(minutes=2))] == [
        TransitionState.RESOLVED
    ]
