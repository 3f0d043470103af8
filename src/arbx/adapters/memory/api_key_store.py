"""An ApiKeyStore held in a dict."""

from __future__ import annotations

from datetime import datetime

import msgspec

from arbx.domain.auth import ApiKey
from arbx.domain.errors import Conflict, NotFound
from arbx.ports.api_key_store import ApiKeyStore


class MemoryApiKeyStore(ApiKeyStore):
    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}

    async def add(self, key: ApiKey) -> None:
        if key.id in self._keys:
            raise Conflict(f"api key id {key.id!r} exists already")
        if any(k.prefix == key.prefix for k in self._keys.values()):
            raise Conflict(f"api key prefix {key.prefix!r} exists already")
        self._keys[key.id] = key

    async def get(self, key_id: str) -> ApiKey:
        try:
            return self._keys[key_id]
        except KeyError:
            raise NotFound(f"api key {key_id!r} does not exist") from None

    async def find_by_prefix(self, prefix: str) -> ApiKey | None:
        return next((k for k in self._keys.values() if k.prefix == prefix), None)

    async def list(self, owner_id: str | None = None) -> list[ApiKey]:
        keys = [k for k in self._keys.values() if owner_id is None or k.owner_id == owner_id]
        return sorted(keys, key=lambda k: (k.created_at, k.id))

    async def revoke(self, key_id: str, at: datetime) -> ApiKey:
        key = await self.get(key_id)
        if key.revoked_at is None:
            key = msgspec.structs.replace(key, revoked_at=at)
            self._keys[key_id] = key
        return key

    async def touch(self, key_id: str, at: datetime) -> None:
        key = self._keys.get(key_id)
        if key is not None and (key.last_used_at is None or at > key.last_used_at):
            self._keys[key_id] = msgspec.structs.replace(key, last_used_at=at)
