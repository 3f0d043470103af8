"""Sign out: end one session (by its refresh token) or every session of a user."""

from __future__ import annotations

from arbx.app.authorize import AuditTrail
from arbx.domain.auth import AuditOutcome, Principal
from arbx.ports.clock import Clock
from arbx.ports.refresh_token_store import RefreshTokenStore
from arbx.ports.token_service import SecretService


class Logout:
    """Revoke refresh-token families. Access tokens issued in a revoked session stop working
    at once (``Authorize`` checks the session on every request; another process within its
    principal cache's ttl).

    ``execute`` is idempotent and says nothing about whether the token existed.
    """

    def __init__(
        self,
        *,
        refresh_tokens: RefreshTokenStore,
        secrets: SecretService,
        audit: AuditTrail,
        clock: Clock,
    ) -> None:
        self._refresh_tokens = refresh_tokens
        self._secrets = secrets
        self._audit = audit
        self._clock = clock

    async def execute(self, refresh_token: str, *, client_address: str | None = None) -> None:
        token = await self._refresh_tokens.find(self._secrets.digest(refresh_token.strip()))
        if token is None:
            return
        if await self._refresh_tokens.revoke_family(token.family_id, self._clock.now()) == 0:
            return  # signed out already
        await self._audit.record(
            f"user:{token.user_id}",
            "auth.logout",
            AuditOutcome.SUCCESS,
            target=f"session:{token.family_id}",
            client_address=client_address,
        )

    async def everywhere(self, principal: Principal, *, client_address: str | None = None) -> int:
        """End every session of the principal's user; returns how many tokens were revoked."""
        revoked = await self._refresh_tokens.revoke_user(principal.user_id, self._clock.now())
        await self._audit.record(
            principal.actor,
            "auth.logout_all",
            AuditOutcome.SUCCESS,
            target=f"user:{principal.user_id}",
            client_address=client_address,
            detail=f"{revoked} tokens revoked",
        )
        return revoked
