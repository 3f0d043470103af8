"""Exchange a refresh token for a new pair; a replayed token revokes its whole family."""

from __future__ import annotations

from typing import NoReturn

from arbx.app.authenticate import SessionTokens
from arbx.app.authorize import AuditTrail
from arbx.domain.auth import ANONYMOUS, AuditOutcome, RefreshVerdict, TokenPair
from arbx.domain.auth.sessions import successor
from arbx.domain.errors import NotFound, Unauthenticated
from arbx.ports.clock import Clock
from arbx.ports.user_store import UserStore

INVALID = "the refresh token is not valid; sign in again"


class RefreshSession:
    """Rotate: the presented token is consumed and its successor returned with a new access
    token. Presenting a consumed token again (a replay: the token was copied) revokes every
    token of its family, so the legitimate user and the thief both have to sign in again.
    Two concurrent refreshes with one token count as a replay for the loser."""

    def __init__(
        self, *, users: UserStore, sessions: SessionTokens, audit: AuditTrail, clock: Clock
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._audit = audit
        self._clock = clock

    async def execute(self, refresh_token: str, *, client_address: str | None = None) -> TokenPair:
        store = self._sessions.refresh_tokens
        now = self._clock.now()
        current = await store.find(self._sessions.secrets.digest(refresh_token.strip()))
        if current is None:
            await self._audit.record(
                ANONYMOUS,
                "auth.refresh",
                AuditOutcome.FAILURE,
                client_address=client_address,
                detail="unknown refresh token",
            )
            raise Unauthenticated(INVALID)
        actor = f"user:{current.user_id}"
        verdict = current.assess(now)
        if verdict is RefreshVerdict.REPLAYED:
            await self._replayed(current.family_id, actor, client_address)
        if verdict is not RefreshVerdict.VALID:
            await self._audit.record(
                actor,
                "auth.refresh",
                AuditOutcome.FAILURE,
                target=f"session:{current.family_id}",
                client_address=client_address,
                detail=f"refresh token {verdict.value}",
            )
            raise Unauthenticated(INVALID)
        try:
            user = await self._users.get(current.user_id)
        except NotFound:
            user = None
        if user is None or not user.is_active:
            await store.revoke_family(current.family_id, now)
            await self._audit.record(
                actor,
                "auth.refresh",
                AuditOutcome.DENIED,
                target=f"session:{current.family_id}",
                client_address=client_address,
                detail="account disabled or removed",
            )
            raise Unauthenticated(INVALID)
        plain = self._sessions.secrets.new_refresh_token()
        following = successor(
            current,
            token_id=self._sessions.new_id(),
            token_hash=self._sessions.secrets.digest(plain),
            now=now,
            policy=self._sessions.policy,
        )
        if not await store.rotate(current.id, now, following):
            await self._replayed(current.family_id, actor, client_address)
        await self._audit.record(
            actor,
            "auth.refresh",
            AuditOutcome.SUCCESS,
            target=f"session:{current.family_id}",
            client_address=client_address,
        )
        return self._sessions.pair(user, following, plain, now)

    async def _replayed(self, family_id: str, actor: str, client_address: str | None) -> NoReturn:
        revoked = await self._sessions.refresh_tokens.revoke_family(family_id, self._clock.now())
        await self._audit.record(
            actor,
            "auth.refresh_replay",
            AuditOutcome.DENIED,
            target=f"session:{family_id}",
            client_address=client_address,
            detail=f"refresh token reused; session revoked ({revoked} tokens)",
        )
        raise Unauthenticated(INVALID)
