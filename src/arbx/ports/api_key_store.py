"""The API key store port."""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Protocol

from arbx.domain.auth import ApiKey


class ApiKeyStore(Protocol):
    """API keys, unique on id and on prefix; only keyed hashes of secrets are stored.

    Contract:
    - ``add`` stores a new key; a taken id or prefix raises ``Conflict`` and stores nothing.
    - ``get`` returns the key or raises ``NotFound``; ``find_by_prefix`` returns None for an
      unknown prefix.
    - ``list`` returns the keys of ``owner_id`` (every key when None), revoked and expired
      ones included, oldest first.
    - ``revoke`` sets ``revoked_at`` once (revoking again keeps the first time) and returns
      the key; ``NotFound`` for an unknown id.
    - ``touch`` records a use: ``last_used_at`` only moves forward; unknown ids are ignored.
    """

    @abstractmethod
    async def add(self, key: ApiKey) -> None: ...

    @abstractmethod
    async def get(self, key_id: str) -> ApiKey: ...

    @abstractmethod
    async def find_by_prefix(self, prefix: str) -> ApiKey | None: ...

    @abstractmethod
    async def list(self, owner_id: str | None = None) -> list[ApiKey]: ...

    @abstractmethod
    async def revoke(self, key_id: str, at: datetime) -> ApiKey: ...

    @abstractmethod
    async def touch(self, key_id: str, at: datetime) -> None: ...
