"""The catalog store port: strategy definitions, their immutable versions, state changes."""

from __future__ import annotations

import builtins
from abc import abstractmethod
from typing import Protocol

from arbx.domain.catalog import DeployState, StateChange, StrategyDefinition, StrategyVersion


class CatalogStore(Protocol):
    """Strategy definitions (unique id, unique name) and their versions (unique on
    (definition, number)).

    Contract (tests/contract/test_catalog_store.py holds every adapter to it):
    - ``create`` stores a definition with its first version (number 1); a taken id or name
      raises ``Conflict`` and stores nothing.
    - ``add_version`` stores ``version`` (number = current + 1) and makes it current, only
      if the definition's current number is still ``version.number - 1``: otherwise
      ``Conflict`` (somebody else added one), nothing stored. ``NotFound`` for an unknown
      definition. A stored version is never changed except for its state fields.
    - ``get`` / ``find`` return a definition by id / by name, or raise ``NotFound``.
    - ``list`` returns definitions by name, optionally only ``owner``'s (or shared ones too
      with ``readable_by``).
    - ``versions`` returns a definition's versions, oldest first; ``version`` one of them
      (``NotFound`` when absent).
    - ``set_state`` applies a state change to a version (its state, walk-forward reference
      and approver become ``updated``'s) only while its state is still ``change.before``
      (else ``Conflict``), and appends ``change`` to the history; atomic.
    - ``history`` returns a definition's state changes, oldest first.
    """

    @abstractmethod
    async def create(self, definition: StrategyDefinition, first: StrategyVersion) -> None: ...

    @abstractmethod
    async def add_version(self, version: StrategyVersion) -> StrategyDefinition: ...

    @abstractmethod
    async def get(self, definition_id: str) -> StrategyDefinition: ...

    @abstractmethod
    async def find(self, name: str) -> StrategyDefinition: ...

    @abstractmethod
    async def list(
        self, *, owner: str | None = None, readable_by: str | None = None
    ) -> builtins.list[StrategyDefinition]: ...

    @abstractmethod
    async def versions(self, definition_id: str) -> builtins.list[StrategyVersion]: ...

    @abstractmethod
    async def version(self, definition_id: str, number: int) -> StrategyVersion: ...

    @abstractmethod
    async def set_state(self, updated: StrategyVersion, change: StateChange) -> None: ...

    @abstractmethod
    async def history(self, definition_id: str) -> builtins.list[StateChange]: ...


__all__ = ["CatalogStore", "DeployState"]
