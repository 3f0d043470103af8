"""Token ports: signed access tokens, and opaque secrets (refresh tokens, API keys)."""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Protocol

from arbx.domain.auth import AccessClaims, Role


class TokenService(Protocol):
    """Issues and verifies access tokens (JWT in production).

    ``issue`` signs the claims with the current signing key; the token expires at
    ``issued_at + ttl``. ``verify`` checks algorithm, signature, key id, issuer, audience and
    times, and raises ``Unauthenticated`` (with a safe reason) for anything wrong.
    """

    @abstractmethod
    def issue(
        self,
        *,
        user_id: str,
        username: str,
        roles: frozenset[Role],
        session_id: str,
        token_id: str,
        issued_at: datetime,
        expires_at: datetime,
    ) -> str: ...

    @abstractmethod
    def verify(self, token: str) -> AccessClaims: ...


class SecretService(Protocol):
    """High-entropy opaque secrets and their keyed hashes.

    ``new_refresh_token`` and ``new_api_key`` return fresh plain text (an API key in the
    ``arbx_<prefix>_<secret>`` format). ``digest`` is a deterministic keyed hash (so stores can
    look tokens up by it); ``matches`` compares a plain secret to a digest in constant time.
    """

    @abstractmethod
    def new_refresh_token(self) -> str: ...

    @abstractmethod
    def new_api_key(self) -> str: ...

    @abstractmethod
    def digest(self, secret: str) -> str: ...

    @abstractmethod
    def matches(self, secret: str, digest: str) -> bool: ...
