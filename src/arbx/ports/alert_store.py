"""Alert rules and the history of their transitions."""

from __future__ import annotations

import builtins
from abc import abstractmethod
from typing import Protocol

from arbx.domain.alerts import AlertRule, AlertTransition


class AlertStore(Protocol):
    """Contract (tests/contract/test_alert_store.py holds every adapter to it):

    - ``save_rule`` stores a new rule; a rule id or name stored already raises ``Conflict``
      (nothing changes), unless ``replace`` (the config's rules: same id, new fields).
    - ``get_rule`` / ``delete_rule`` raise ``NotFound`` for an unknown id; deleting a rule
      keeps its history.
    - ``list_rules`` returns every rule, oldest first (then by id).
    - ``record`` appends one transition (an id stored already raises ``Conflict``).
    - ``history(rule_id, limit)`` returns transitions newest first (then by id descending),
      of one rule or of all (``rule_id`` None), at most ``limit``.
    - ``firing()`` returns, for each (rule, subject) whose latest transition is a firing, that
      transition (how alerts still firing survive a restart).
    """

    @abstractmethod
    async def save_rule(self, rule: AlertRule, *, replace: bool = False) -> None: ...

    @abstractmethod
    async def get_rule(self, rule_id: str) -> AlertRule: ...

    @abstractmethod
    async def list_rules(self) -> builtins.list[AlertRule]: ...

    @abstractmethod
    async def delete_rule(self, rule_id: str) -> None: ...

    @abstractmethod
    async def record(self, transition: AlertTransition) -> None: ...

    @abstractmethod
    async def history(
        self, rule_id: str | None = None, *, limit: int = 100
    ) -> builtins.list[AlertTransition]: ...

    @abstractmethod
    async def firing(self) -> builtins.list[AlertTransition]: ...
