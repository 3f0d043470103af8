"""A RefreshTokenStore held in a dict."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec

from arbx.domain.auth import RefreshToken
from arbx.domain.errors import Conflict, InvalidInput
from arbx.ports.refresh_token_store import RefreshTokenStore


class MemoryRefreshTokenStore(RefreshTokenStore):
    def __init__(self) -> None:
        self._tokens: dict[str, RefreshToken] = {}

    async def add(self, token: RefreshToken) -> None:
        self._check_new(token)
        self._tokens[token.id] = token

    def _check_new(self, token: RefreshToken) -> None:
        if token.id in self._tokens:
            raise Conflict(f"refresh token id {token.id!r} exists already")
        if any(t.token_hash == token.token_hash for t in self._tokens.values()):
            raise Conflict("refresh token hash exists already")

    async def find(self, token_hash: str) -> RefreshToken | None:
        return next((t for t in self._tokens.values() if t.token_hash == token_hash), None)

    async def rotate(self, used_id: str, at: datetime, successor: RefreshToken) -> bool:
        current = self._tokens.get(used_id)
        if current is None or current.used_at is not None or current.revoked_at is not None:
            return False
        if successor.family_id != current.family_id:
            raise InvalidInput("a successor must stay in its family", field="family_id")
        self._check_new(successor)
        self._tokens[used_id] = msgspec.structs.replace(current, used_at=at)
        self._tokens[successor.id] = successor
        return True

    async def revoke_family(self, family_id: str, at: datetime) -> int:
        return self._revoke(lambda t: t.family_id == family_id, at)

    async def revoke_user(self, user_id: str, at: datetime) -> int:
        return self._revoke(lambda t: t.user_id == user_id, at)

    def _revoke(self, selected: Callable[[RefreshToken], bool], at: datetime) -> int:
        changed = 0
        for token_id, token in list(self._tokens.items()):
            if token.revoked_at is None and selected(token):
                self._tokens[token_id] = msgspec.structs.replace(token, revoked_at=at)
                changed += 1
        return changed

    async def purge_expired(self, before: datetime) -> int:
        expired = [i for i, t in self._tokens.items() if t.expires_at < before]
        for token_id in expired:
            del self._tokens[token_id]
        return len(expired)

    async def session_active(self, family_id: str) -> bool:
        return any(t.family_id == family_id and t.revoked_at is None for t in self._tokens.values())
