"""Resolve a bearer credential (access JWT or API key) to a Principal, and check permissions.

Also home of ``AuditTrail``, the small helper every auth use case records through.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
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
    RefreshToken,
    Resource,
    User,
    api_key_prefix,
    looks_like_api_key,
    require,
)
from arbx.domain.errors import NotFound, StorageUnavailable, Unauthenticated
from arbx.ports.api_key_store import ApiKeyStore
from arbx.ports.audit_log import AuditLog
from arbx.ports.clock import Clock
from arbx.ports.refresh_token_store import RefreshTokenStore
from arbx.ports.token_service import SecretService, TokenService
from arbx.ports.user_store import UserStore

T = TypeVar("T")
log = logging.getLogger("arbx.audit")


class AuditTrail:
    """Writes audit events stamped with the clock's time.

    While the audit log's store is unavailable (``StorageUnavailable``: the database is
    down), events are kept in memory, in order, up to ``max_pending``, and written before the
    next event once the store answers again (or by ``flush``); past the bound the oldest
    pending events are dropped and counted in ``dropped``, and a warning is logged. Requests
    are never refused for it: an operator reads ``pending`` and ``dropped`` instead.
    """

    def __init__(self, audit: AuditLog, clock: Clock, *, max_pending: int = 10_000) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be >= 1")
        self._audit = audit
        self._clock = clock
        self._pending: deque[AuditEvent] = deque()
        self._max_pending = max_pending
        self._flushing = asyncio.Lock()
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

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
        event = AuditEvent(
            at=self._clock.now(),
            actor=actor,
            action=action,
            outcome=outcome,
            target=target,
            client_address=client_address,
            detail=detail,
        )
        if self._pending:
            self._keep(event)
            await self.flush()
            return
        try:
            await self._audit.append(event)
        except StorageUnavailable:
            self._keep(event)

    async def flush(self) -> int:
        """Write the pending events in order; returns how many were written. Stops (keeping
        the rest) when the store is still unavailable."""
        written = 0
        async with self._flushing:
            while self._pending:
                try:
                    await self._audit.append(self._pending[0])
                except StorageUnavailable:
                    break
                self._pending.popleft()
                written += 1
        return written

    def _keep(self, event: AuditEvent) -> None:
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self.dropped += 1
            log.warning(
                "audit log unavailable: %d events pending, %d dropped so far",
                len(self._pending),
                self.dropped,
            )
        self._pending.append(event)


class QueryAuditLog:
    """Read the audit log (``audit:read``, admins); newest first, paged by ``before_seq``."""

    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    async def execute(self, actor: Principal, query: AuditQuery) -> list[AuditEntry]:
        require(actor, Permission.AUDIT_READ)
        return await self._audit.query(query)


class PrincipalCache:
    """Accounts, API keys and sign-in session states looked up by ``Authorize``, each reused
    for ``ttl`` (0: off) to save store round trips per request.

    The use cases that end sessions or change accounts (logout, logout-all, refresh-token
    replay, password change or reset, role change, disabling a user, revoking a key) call
    ``forget_user`` / ``forget_session`` / ``forget_key`` on the instance they share with
    ``Authorize``, so in this process the change takes effect on the next request. Another
    server process sees it once its own entries expire: within ``ttl``.
    """

    def __init__(self, ttl: timedelta = timedelta(0), size: int = 4096) -> None:
        self.ttl = ttl
        self.users: _TtlCache[User] = _TtlCache(ttl, size)
        self.keys: _TtlCache[ApiKey] = _TtlCache(ttl, size)
        self.sessions: _TtlCache[bool] = _TtlCache(ttl, size)
        self._sessions_of: dict[str, set[str]] = {}  # user id -> cached session ids
        self._size = size

    def remember_session(self, user_id: str, session_id: str, now: datetime) -> None:
        self.sessions.put(session_id, True, now)
        if self.ttl > timedelta(0):
            if len(self._sessions_of) >= self._size:
                self._sessions_of.clear()
            self._sessions_of.setdefault(user_id, set()).add(session_id)

    def forget_session(self, session_id: str) -> None:
        self.sessions.drop(session_id)

    def forget_user(self, user_id: str) -> None:
        """Drop the user's account entry and every cached session of theirs."""
        self.users.drop(user_id)
        for session_id in self._sessions_of.pop(user_id, set()):
            self.sessions.drop(session_id)

    def forget_key(self, prefix: str) -> None:
        self.keys.drop(prefix)


class CacheForgettingSessions(RefreshTokenStore):
    """A RefreshTokenStore that tells the ``PrincipalCache`` about every revocation.

    Every use case that ends sessions (logout, logout-all, replay detection, password change
    or reset, role change, disabling a user) revokes through its ``RefreshTokenStore``; wiring
    this wrapper in front of the real store makes each of them drop the cached session (and,
    for ``revoke_user``, the cached account) in this process at once.
    """

    def __init__(self, store: RefreshTokenStore, cache: PrincipalCache) -> None:
        self._store = store
        self._cache = cache

    async def add(self, token: RefreshToken) -> None:
        await self._store.add(token)

    async def find(self, token_hash: str) -> RefreshToken | None:
        return await self._store.find(token_hash)

    async def rotate(self, used_id: str, at: datetime, successor: RefreshToken) -> bool:
        return await self._store.rotate(used_id, at, successor)

    async def revoke_family(self, family_id: str, at: datetime) -> int:
        try:
            return await self._store.revoke_family(family_id, at)
        finally:
            self._cache.forget_session(family_id)

    async def revoke_user(self, user_id: str, at: datetime) -> int:
        try:
            return await self._store.revoke_user(user_id, at)
        finally:
            self._cache.forget_user(user_id)

    async def purge_expired(self, before: datetime) -> int:
        return await self._store.purge_expired(before)

    async def session_active(self, family_id: str) -> bool:
        return await self._store.session_active(family_id)


class Authorize:
    """Who is calling, and may they?

    ``principal`` accepts the credential from ``Authorization: Bearer <x>`` (or an API key
    header): an ``arbx_...`` API key or an access JWT. Users are looked up on every call so
    that disabling a user or changing roles takes effect at once; an access token works only
    while its sign-in session (its refresh-token family) is active, so logout, logout-all,
    replay detection, a password or role change and disabling the user end it at once rather
    than when the token expires. An API key acts with the roles it holds that its owner still
    holds. ``last_used_at`` of a key is written at most once per ``touch_every``.

    ``cache`` (or ``cache_ttl``, default 0: off) lets looked-up accounts, API keys and
    session states be reused for that long (see ``PrincipalCache``); in another process a
    change then takes effect within that time. A few seconds is a sound setting for a busy
    server.
    """

    def __init__(
        self,
        *,
        users: UserStore,
        api_keys: ApiKeyStore,
        sessions: RefreshTokenStore,
        tokens: TokenService,
        secrets: SecretService,
        clock: Clock,
        touch_every: timedelta = timedelta(minutes=1),
        cache_ttl: timedelta = timedelta(0),
        cache_size: int = 4096,
        cache: PrincipalCache | None = None,
    ) -> None:
        self._users = users
        self._api_keys = api_keys
        self._sessions = sessions
        self._tokens = tokens
        self._secrets = secrets
        self._clock = clock
        self._touch_every = touch_every
        self.cache = cache if cache is not None else PrincipalCache(cache_ttl, cache_size)
        self._users_seen = self.cache.users
        self._keys_seen = self.cache.keys
        self._touched: dict[str, datetime] = {}
        self._cache_size = cache_size
        # when a cached entry expires under load, one lookup serves every waiting request
        self._user_lookups: _SingleFlight[User] = _SingleFlight()
        self._key_lookups: _SingleFlight[ApiKey | None] = _SingleFlight()
        self._session_lookups: _SingleFlight[bool] = _SingleFlight()

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
        await self._require_session(claims.user_id, claims.session_id)
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
            roles=key.roles_in_force(owner.roles),
            scopes=key.scopes_for(owner.roles),
            api_key_id=key.id,
        )

    async def _require_session(self, user_id: str, session_id: str) -> None:
        now = self._clock.now()
        if self.cache.sessions.get(session_id, now):
            return
        active = await self._session_lookups.run(
            session_id, lambda: self._sessions.session_active(session_id)
        )
        if not active:
            raise Unauthenticated("this session has ended (signed out or revoked); sign in again")
        self.cache.remember_session(user_id, session_id, now)

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

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)


def _stale(last_used_at: datetime | None, now: datetime, every: timedelta) -> bool:
    return last_used_at is None or now - last_used_at >= every
