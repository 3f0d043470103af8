"""CatalogStore in memory (tests, the in-process profile)."""

from __future__ import annotations

import builtins

import msgspec

from arbx.domain.catalog import StateChange, StrategyDefinition, StrategyVersion
from arbx.domain.errors import Conflict, NotFound
from arbx.ports.catalog_store import CatalogStore


class MemoryCatalogStore(CatalogStore):
    def __init__(self) -> None:
        self._defs: dict[str, StrategyDefinition] = {}
        self._versions: dict[str, list[StrategyVersion]] = {}
        self._history: dict[str, list[StateChange]] = {}

    async def create(self, definition: StrategyDefinition, first: StrategyVersion) -> None:
        if definition.id in self._defs:
            raise Conflict(f"strategy id {definition.id!r} exists already")
        if any(d.name == definition.name for d in self._defs.values()):
            raise Conflict(f"strategy name {definition.name!r} is taken")
        self._defs[definition.id] = msgspec.structs.replace(definition, current=first.number)
        self._versions[definition.id] = [first]
        self._history[definition.id] = []

    async def add_version(self, version: StrategyVersion) -> StrategyDefinition:
        found = await self.get(version.definition_id)
        if found.current != version.number - 1:
            raise Conflict(
                f"strategy {found.name!r} is at version {found.current}, not"
                f" {version.number - 1}: another change came first; reload and retry"
            )
        self._versions[found.id].append(version)
        updated = msgspec.structs.replace(found, current=version.number)
        self._defs[found.id] = updated
        return updated

    async def get(self, definition_id: str) -> StrategyDefinition:
        try:
            return self._defs[definition_id]
        except KeyError:
            raise NotFound(f"strategy {definition_id!r} does not exist") from None

    async def find(self, name: str) -> StrategyDefinition:
        for d in self._defs.values():
            if d.name == name:
                return d
        raise NotFound(f"strategy {name!r} does not exist")

    async def list(
        self, *, owner: str | None = None, readable_by: str | None = None
    ) -> builtins.list[StrategyDefinition]:
        out = [
            d
            for d in self._defs.values()
            if (owner is None or d.owner == owner)
            and (readable_by is None or d.owner == readable_by or d.shared)
        ]
        return sorted(out, key=lambda d: d.name)

    async def versions(self, definition_id: str) -> builtins.list[StrategyVersion]:
        await self.get(definition_id)
        return list(self._versions[definition_id])

    async def version(self, definition_id: str, number: int) -> StrategyVersion:
        for v in await self.versions(definition_id):
            if v.number == number:
                return v
        raise NotFound(f"strategy {definition_id!r} has no version {number}")

    async def set_state(self, updated: StrategyVersion, change: StateChange) -> None:
        stored = await self.version(updated.definition_id, updated.number)
        if stored.state != change.before:
            raise Conflict(
                f"v{stored.number} is {stored.state} now, not {change.before}; reload and retry"
            )
        versions = self._versions[updated.definition_id]
        versions[versions.index(stored)] = msgspec.structs.replace(
            stored,
            state=updated.state,
            walk_forward=updated.walk_forward,
            approved_by=updated.approved_by,
        )
        self._history[updated.definition_id].append(change)

    async def history(self, definition_id: str) -> builtins.list[StateChange]:
        await self.get(definition_id)
        return list(self._history[definition_id])
