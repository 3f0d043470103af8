"""Resolve a bearer credential (access JWT or API key) to a Principal, and check permissions.

Also home of ``AuditTrail``, the small helper every auth use case records through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from arbx.domain.auth import (
    ApiKey,
    ApiKeyStatus,
    AuditEntry,
    AuditEvent,
    AuditOutcome,
    AuditQuery,
    Permission,
    Principal,
    PrincipalKind,
    Resource,
    User,
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

T = TypeVar("T")


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

    ``cache_ttl`` (default 0: off) lets looked-up accounts and API keys be reused for that
    long, saving store round trips per request; disabling a user, changing roles or revoking
    a key then takes effect within that time. A few seconds is a sound setting for a busy
    server.
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
        cache_ttl: timedelta = timedelta(0),
        cache_size: int = 4096,
    ) -> None:
        self._users = users
        self._api_keys = api_keys
        self._tokens = tokens
        self._secrets = secrets
        self._clock = clock
        self._touch_every = touch_every
        self._users_seen: _TtlCache[User] = _TtlCache(cache_ttl, cache_size)
        self._keys_seen: _TtlCache[ApiKey] = _TtlCache(cache_ttl, cache_size)
        self._touched: dict[str, datetime] = {}
        self._cache_size = cache_size
        # when a cached entry expires under load, one lookup serves every waiting request
        self._user_lookups: _SingleFlight[User] = _SingleFlight()
        self._key_lookups: _SingleFlight[ApiKey | None] = _SingleFlight()

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
            user = await self._user(claims.user_id)
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
        now = self._clock.now()
        key = self._keys_seen.get(prefix, now)
        if key is None:
            key = await self._key_lookups.run(prefix, lambda: self._api_keys.find_by_prefix(prefix))
            if key is not None:
                self._keys_seen.put(prefix, key, now)
        if key is None or not self._secrets.matches(text, key.secret_hash):
            raise Unauthenticated("the API key is not valid")
        status = key.status(now)
        if status is not ApiKeyStatus.ACTIVE:
            raise Unauthenticated(f"the API key is {status.value}")
        try:
            owner = await self._user(key.owner_id)
        except NotFound:
            raise Unauthenticated("the API key's owner no longer exists") from None
        if not owner.is_active:
            raise Unauthenticated("the API key's owner is disabled")
        if _stale(self._touched.get(key.id) or key.last_used_at, now, self._touch_every):
            # mark first: concurrent requests with this key must not all write last-used
            if len(self._touched) >= self._cache_size:
                self._touched.clear()
            self._touched[key.id] = now
            await self._api_keys.touch(key.id, now)
        return Principal(
            kind=PrincipalKind.API_KEY,
            user_id=owner.id,
            username=owner.username,
            roles=key.roles,
            scopes=key.scopes_for(owner.roles),
            api_key_id=key.id,
        )

    async def _user(self, user_id: str) -> User:
        now = self._clock.now()
        user = self._users_seen.get(user_id, now)
        if user is None:
            user = await self._user_lookups.run(user_id, lambda: self._users.get(user_id))
            self._users_seen.put(user_id, user, now)
        return user


class _SingleFlight(Generic[T]):
    """Concurrent loads of one key share a single call (no thundering herd on expiry)."""

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Future[T]] = {}

    async def run(self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        pending = self._flights.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        flight: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            value = await load()
        except BaseException as exc:
            flight.set_exception(exc)
            flight.exception()  # retrieved here, so a flight nobody joined logs nothing
            raise
        else:
            flight.set_result(value)
            return value
        finally:
            del self._flights[key]


class _TtlCache(Generic[T]):
    """A bounded map whose entries expire ``ttl`` after they were stored (off when ttl <= 0)."""

    def __init__(self, ttl: timedelta, size: int) -> None:
        self._ttl = ttl
        self._size = size
        self._entries: dict[str, tuple[datetime, T]] = {}

    def get(self, key: str, now: datetime) -> T | None:
        hit = self._entries.get(key)
        if hit is None or now - hit[0] >= self._ttl:
            return None
        return hit[1]

    def put(self, key: str, value: T, now: datetime) -> None:
        if self._ttl <= timedelta(0):
            return
        if len(self._entries) >= self._size:
            self._entries.clear()  # crude but bounded; entries live seconds anyway
        self._entries[key] = (now, value)


def _stale(last_used_at: datetime | None, now: datetime, every: timedelta) -> bool:
    return last_used_at is None or now - last_used_at >= every
