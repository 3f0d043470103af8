"""Resolve a bearer credential (access JWT or API key) to a Principal, and check permissions.

Also home of ``AuditTrail``, the small helper every auth use case records through.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from arbx.domain.auth import (
    ApiKeyStatus,
    AuditEntry,
    AuditEvent,
    AuditOutcome,
    AuditQuery,
    Permission,
    Principal,
    PrincipalKind,
    Resource,
    api_key_prefix,
    looks_like_api_key,
    require,
)
from arbx.domain.errors import NotFound, Unauthenticated
from arbx.ports.api_key_store import ApiKeyStore
from arbx.ports.audit_log import AuditLog
from arbx.ports.clock import Clock
from arbx.ports.token_service import SecretService, TokenService
from arbx.ports.user_store import UserStore


class AuditTrail:
    """Writes audit events stamped with the clock's time."""

    def __init__(self, audit: AuditLog, clock: Clock) -> None:
        self._audit = audit
        self._clock = clock

    async def record(
        self,
        actor: str,
        action: str,
        outcome: AuditOutcome,
        *,
        target: str | None = None,
        client_address: str | None = None,
        detail: str | None = None,
    ) -> None:
        await self._audit.append(
            AuditEvent(
                at=self._clock.now(),
                actor=actor,
                action=action,
                outcome=outcome,
                target=target,
                client_address=client_address,
                detail=detail,
            )
        )


class QueryAuditLog:
    """Read the audit log (``audit:read``, admins); newest first, paged by ``before_seq``."""

    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    async def execute(self, actor: Principal, query: AuditQuery) -> list[AuditEntry]:
        require(actor, Permission.AUDIT_READ)
        return await self._audit.query(query)


class Authorize:
    """Who is calling, and may they?

    ``principal`` accepts the credential from ``Authorization: Bearer <x>`` (or an API key
    header): an ``arbx_...`` API key or an access JWT. Users are looked up on every call so
    that disabling a user or changing roles takes effect at once; an API key acts with the
    roles it holds that its owner still holds. ``last_used_at`` of a key is written at most
    once per ``touch_every``.
    """

    def __init__(
        self,
        *,
        users: UserStore,
        api_keys: ApiKeyStore,
        tokens: TokenService,
        secrets: SecretService,
        clock: Clock,
        touch_every: timedelta = timedelta(minutes=1),
    ) -> None:
        self._users = users
        self._api_keys = api_keys
        self._tokens = tokens
        self._secrets = secrets
        self._clock = clock
        self._touch_every = touch_every

    async def principal(self, credential: str | None) -> Principal:
        text = (credential or "").strip()
        if not text:
            raise Unauthenticated("credentials required: send 'Authorization: Bearer <token>'")
        if looks_like_api_key(text):
            return await self._from_api_key(text)
        return await self._from_access_token(text)

    async def require(
        self, credential: str | None, permission: Permission, resource: Resource | None = None
    ) -> Principal:
        """Resolve and check in one call; raises ``Unauthenticated`` or ``Forbidden``."""
        principal = await self.principal(credential)
        require(principal, permission, resource)
        return principal

    async def _from_access_token(self, token: str) -> Principal:
        claims = self._tokens.verify(token)
        try:
            user = await self._users.get(claims.user_id)
        except NotFound:
            raise Unauthenticated("the access token's user no longer exists") from None
        if not user.is_active:
            raise Unauthenticated("this account is disabled")
        return Principal(
            kind=PrincipalKind.USER, user_id=user.id, username=user.username, roles=user.roles
        )

    async def _from_api_key(self, text: str) -> Principal:
        prefix = api_key_prefix(text)
        if prefix is None:
            raise Unauthenticated("the API key is malformed")
        key = await self._api_keys.find_by_prefix(prefix)
        if key is None or not self._secrets.matches(text, key.secret_hash):
            raise Unauthenticated("the API key is not valid")
        now = self._clock.now()
        status = key.status(now)
        if status is not ApiKeyStatus.ACTIVE:
            raise Unauthenticated(f"the API key is {status.value}")
        try:
            owner = await self._users.get(key.owner_id)
        except NotFound:
            raise Unauthenticated("the API key's owner no longer exists") from None
        if not owner.is_active:
            raise Unauthenticated("the API key's owner is disabled")
        if _stale(key.last_used_at, now, self._touch_every):
            await self._api_keys.touch(key.id, now)
        return Principal(
            kind=PrincipalKind.API_KEY,
            user_id=owner.id,
            username=owner.username,
            roles=key.roles,
            scopes=key.scopes_for(owner.roles),
            api_key_id=key.id,
        )


def _stale(last_used_at: datetime | None, now: datetime, every: timedelta) -> bool:
    return last_used_at is None or now - last_used_at >= every
