"""The refresh token store port: rotating token families."""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Protocol

from arbx.domain.auth import RefreshToken


class RefreshTokenStore(Protocol):
    """Refresh tokens by keyed hash, grouped in families (one family per sign-in).

    Contract:
    - ``add`` stores a token; a taken id or hash raises ``Conflict``.
    - ``find`` returns the token with that hash (used and revoked ones too), else None.
    - ``rotate`` atomically marks ``used_id`` used at ``at`` and adds ``successor`` (same
      family), only if ``used_id`` is neither used nor revoked; it returns False and changes
      nothing otherwise, so two concurrent refreshes with one token cannot both succeed.
    - ``revoke_family`` / ``revoke_user`` set ``revoked_at`` on every not yet revoked token of
      the family / of the user and return how many they changed.
    - ``purge_expired`` deletes tokens that expired before ``before`` and returns the count.
    - ``session_active`` is True while the family (one sign-in session) holds a token that is
      not revoked; False once it was revoked (logout, replay, password or role change,
      disabled user) or when no token of it is stored.
    """

    @abstractmethod
    async def add(self, token: RefreshToken) -> None: ...

    @abstractmethod
    async def find(self, token_hash: str) -> RefreshToken | None: ...

    @abstractmethod
    async def rotate(self, used_id: str, at: datetime, successor: RefreshToken) -> bool: ...

    @abstractmethod
    async def revoke_family(self, family_id: str, at: datetime) -> int: ...

    @abstractmethod
    async def revoke_user(self, user_id: str, at: datetime) -> int: ...

    @abstractmethod
    async def purge_expired(self, before: datetime) -> int: ...

    @abstractmethod
    async def session_active(self, family_id: str) -> bool: ...
