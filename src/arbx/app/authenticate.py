"""Sign in with a password: an access token and the first refresh token of a new session."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import NoReturn

from arbx.app.authorize import AuditTrail
from arbx.domain.auth import (
    ANONYMOUS,
    AuditOutcome,
    SessionPolicy,
    TokenPair,
    TooManyRequests,
    User,
    normalize_username,
)
from arbx.domain.auth.sessions import RefreshToken, start_family
from arbx.domain.errors import InvalidInput, Unauthenticated
from arbx.ports.clock import Clock
from arbx.ports.password_hasher import PasswordHasher
from arbx.ports.rate_limiter import LoginThrottle
from arbx.ports.refresh_token_store import RefreshTokenStore
from arbx.ports.token_service import SecretService, TokenService
from arbx.ports.user_store import UserStore

BAD_CREDENTIALS = "invalid username or password"
_DUMMY_PASSWORD = "arbx-timing-equalizer-not-a-password"


def new_id() -> str:
    return uuid.uuid4().hex


class SessionTokens:
    """Mints the token pair of a session (shared by sign-in and refresh)."""

    def __init__(
        self,
        *,
        tokens: TokenService,
        secrets: SecretService,
        refresh_tokens: RefreshTokenStore,
        policy: SessionPolicy,
        new_id: Callable[[], str] = new_id,
    ) -> None:
        self.tokens = tokens
        self.secrets = secrets
        self.refresh_tokens = refresh_tokens
        self.policy = policy
        self.new_id = new_id

    def access_token(self, user: User, session_id: str, now: datetime) -> tuple[str, datetime]:
        expires_at = now + self.policy.access_ttl
        token = self.tokens.issue(
            user_id=user.id,
            username=user.username,
            roles=user.roles,
            session_id=session_id,
            token_id=self.new_id(),
            issued_at=now,
            expires_at=expires_at,
        )
        return token, expires_at

    def pair(self, user: User, refresh: RefreshToken, plain: str, now: datetime) -> TokenPair:
        access, access_expires_at = self.access_token(user, refresh.family_id, now)
        return TokenPair(
            access_token=access,
            access_expires_at=access_expires_at,
            refresh_token=plain,
            refresh_expires_at=refresh.expires_at,
        )

    async def start(self, user: User, now: datetime) -> TokenPair:
        plain = self.secrets.new_refresh_token()
        refresh = start_family(
            token_id=self.new_id(),
            family_id=self.new_id(),
            user_id=user.id,
            token_hash=self.secrets.digest(plain),
            now=now,
            policy=self.policy,
        )
        await self.refresh_tokens.add(refresh)
        return self.pair(user, refresh, plain, now)


class Authenticate:
    """Password sign-in.

    Every failure says only "invalid username or password", whether the user is unknown or
    the password wrong, and costs the same hashing time. Repeated failures are throttled per
    typed username and per client address (``TooManyRequests`` with ``retry_after``). A
    disabled account is refused (and told so only after a correct password). A hash made with
    old argon2 parameters is replaced on success.
    """

    def __init__(
        self,
        *,
        users: UserStore,
        hasher: PasswordHasher,
        sessions: SessionTokens,
        throttle: LoginThrottle,
        audit: AuditTrail,
        clock: Clock,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._sessions = sessions
        self._throttle = throttle
        self._audit = audit
        self._clock = clock
        self._dummy_hash: str | None = None

    async def execute(
        self, username: str, password: str, *, client_address: str | None = None
    ) -> TokenPair:
        typed = username.strip().lower()[:128]
        wait = self._throttle.wait(typed, client_address)
        if wait > 0:
            await self._audit.record(
                ANONYMOUS,
                "auth.login",
                AuditOutcome.DENIED,
                client_address=client_address,
                detail="throttled after repeated failures",
            )
            raise TooManyRequests(
                f"too many failed sign-ins; try again in {int(wait) + 1} s", retry_after=wait
            )
        credentials = None
        with contextlib.suppress(InvalidInput):  # a malformed name is just an unknown user
            credentials = await self._users.credentials(normalize_username(typed))
        if credentials is None:
            await self._hasher.verify(await self._dummy(), password)
            await self._fail(typed, client_address, target=None, detail="unknown username")
        user = credentials.user
        if not await self._hasher.verify(credentials.password_hash, password):
            await self._fail(typed, client_address, target=f"user:{user.id}", detail="bad password")
        if not user.is_active:
            await self._audit.record(
                f"user:{user.id}",
                "auth.login",
                AuditOutcome.DENIED,
                target=f"user:{user.id}",
                client_address=client_address,
                detail="account disabled",
            )
            raise Unauthenticated("this account is disabled; ask an admin to enable it")
        self._throttle.succeeded(typed, client_address)
        if self._hasher.needs_rehash(credentials.password_hash):
            await self._users.set_password_hash(user.id, await self._hasher.hash(password))
        pair = await self._sessions.start(user, self._clock.now())
        await self._audit.record(
            f"user:{user.id}",
            "auth.login",
            AuditOutcome.SUCCESS,
            target=f"user:{user.id}",
            client_address=client_address,
        )
        return pair

    async def _fail(
        self, typed: str, client_address: str | None, *, target: str | None, detail: str
    ) -> NoReturn:
        self._throttle.failed(typed, client_address)
        await self._audit.record(
            ANONYMOUS,
            "auth.login",
            AuditOutcome.FAILURE,
            target=target,
            client_address=client_address,
            detail=detail,
        )
        raise Unauthenticated(BAD_CREDENTIALS)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hasher.hash(_DUMMY_PASSWORD)
        return self._dummy_hash
