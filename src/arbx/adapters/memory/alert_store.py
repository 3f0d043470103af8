"""AlertStore in memory (tests, and the fakes of use-case tests)."""

from __future__ import annotations

import builtins

from arbx.domain.alerts import AlertRule, AlertTransition, TransitionState
from arbx.domain.errors import Conflict, NotFound
from arbx.ports.alert_store import AlertStore


class MemoryAlertStore(AlertStore):
    def __init__(self) -> None:
        self._rules: dict[str, AlertRule] = {}
        self._history: builtins.list[AlertTransition] = []

    async def save_rule(self, rule: AlertRule, *, replace: bool = False) -> None:
        named = next((r for r in self._rules.values() if r.name == rule.name), None)
        if named is not None and named.id != rule.id:
            raise Conflict(f"alert rule name {rule.name!r} is taken by rule {named.id!r}")
        if rule.id in self._rules and not replace:
            raise Conflict(f"alert rule {rule.id!r} exists already")
        self._rules[rule.id] = rule

    async def get_rule(self, rule_id: str) -> AlertRule:
        try:
            return self._rules[rule_id]
        except KeyError:
            raise NotFound(f"alert rule {rule_id!r} does not exist") from None

    async def list_rules(self) -> builtins.list[AlertRule]:
        return sorted(self._rules.values(), key=lambda r: (r.created_at, r.id))

    async def delete_rule(self, rule_id: str) -> None:
        if self._rules.pop(rule_id, None) is None:
            raise NotFound(f"alert rule {rule_id!r} does not exist")

    async def record(self, transition: AlertTransition) -> None:
        if any(t.id == transition.id for t in self._history):
            raise Conflict(f"alert transition {transition.id!r} exists already")
        self._history.append(transition)

    async def history(
        self, rule_id: str | None = None, *, limit: int = 100
    ) -> builtins.list[AlertTransition]:
        found = [t for t in self._history if rule_id is None or t.rule_id == rule_id]
        return sorted(found, key=lambda t: (t.at, t.id), reverse=True)[: max(0, limit)]

    async def firing(self) -> builtins.list[AlertTransition]:
        latest: dict[tuple[str, str], AlertTransition] = {}
        for t in sorted(self._history, key=lambda t: (t.at, t.id)):
            latest[(t.rule_id, t.subject)] = t
        return [t for t in latest.values() if t.state is TransitionState.FIRING]
