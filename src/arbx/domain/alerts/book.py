"""The states of alerts and how conditions move them: deduplicated, with a cooldown.

An alert is one (rule, subject). When its condition holds and it is not firing, it fires,
unless it fired less than the rule's ``cooldown_s`` ago (then it stays quiet until the
cooldown has passed, and fires then if the condition still holds). While firing, the same
condition raises nothing new (deduplication). When the condition no longer holds, it
resolves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from arbx.domain.alerts.rules import AlertRule, AlertTransition, TransitionState


@dataclass(frozen=True, slots=True)
class Condition:
    """A subject's violating value and what to tell about it."""

    value: float | None
    summary: str


@dataclass(slots=True)
class AlertState:
    firing: bool
    since: datetime
    last_fired_at: datetime | None
    summary: str
    value: float | None


class AlertBook:
    def __init__(self, new_id: Callable[[], str]) -> None:
        self._new_id = new_id
        self._states: dict[tuple[str, str], AlertState] = {}

    def restore(self, transitions: Iterable[AlertTransition]) -> None:
        """Bring back the alerts still firing (their latest stored transitions)."""
        for t in transitions:
            if t.state is TransitionState.FIRING:
                self._states[(t.rule_id, t.subject)] = AlertState(
                    True, t.at, t.at, t.summary, t.value
                )

    def states(self, rule_id: str) -> dict[str, AlertState]:
        return {s: state for (r, s), state in self._states.items() if r == rule_id}

    def forget(self, rule_id: str) -> None:
        for key in [k for k in self._states if k[0] == rule_id]:
            del self._states[key]

    def step(
        self, rule: AlertRule, violating: Mapping[str, Condition], now: datetime
    ) -> list[AlertTransition]:
        """The transitions of ``rule`` given the subjects violating it now."""
        out: list[AlertTransition] = []
        cooldown = timedelta(seconds=rule.cooldown_s)
        for subject, condition in sorted(violating.items()):
            if not rule.applies_to(subject):
                continue
            state = self._states.get((rule.id, subject))
            if state is not None and state.firing:
                state.summary, state.value = condition.summary, condition.value
                continue
            fired = state.last_fired_at if state is not None else None
            if fired is not None and now - fired < cooldown:
                continue
            self._states[(rule.id, subject)] = AlertState(
                True, now, now, condition.summary, condition.value
            )
            out.append(self._transition(rule, subject, TransitionState.FIRING, now, condition))
        for (rule_id, subject), state in sorted(self._states.items()):
            if rule_id != rule.id or not state.firing:
                continue
            if subject in violating and rule.applies_to(subject):
                continue
            state.firing, state.since = False, now
            resolved = Condition(None, f"resolved: {state.summary}")
            out.append(self._transition(rule, subject, TransitionState.RESOLVED, now, resolved))
        return out

    def _transition(
        self,
        rule: AlertRule,
        subject: str,
        state: TransitionState,
        now: datetime,
        condition: Condition,
    ) -> AlertTransition:
        return AlertTransition(
            id=self._new_id(),
            rule_id=rule.id,
            rule_name=rule.name,
            kind=rule.kind,
            severity=rule.severity,
            subject=subject,
            state=state,
            at=now,
            value=condition.value,
            summary=condition.summary[:500],
        )
