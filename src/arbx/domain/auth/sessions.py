"""Sign-in sessions: short-lived access tokens and rotating refresh-token families.

A sign-in starts a family. Each refresh consumes the presented token (marks it used) and
issues the next one in the same family. A token presented again after it was used is a
replay: somebody holds a stolen copy, so the whole family is revoked and both the thief and
the user must sign in again. Refresh tokens are stored only as keyed hashes.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import msgspec

from arbx.domain.auth.permissions import Role
from arbx.domain.errors import InvalidInput


class SessionPolicy(msgspec.Struct, frozen=True):
    """Lifetimes: access token, one refresh token, and a whole sign-in session."""

    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=7)
    max_session_age: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        for name in ("access_ttl", "refresh_ttl", "max_session_age"):
            if getattr(self, name) <= timedelta(0):
                raise InvalidInput(f"{name} must be positive", field=name)
        if self.access_ttl > self.refresh_ttl:
            raise InvalidInput(
                "access_ttl must not exceed refresh_ttl; access tokens are the short-lived ones",
                field="access_ttl",
            )


class AccessClaims(msgspec.Struct, frozen=True):
    """What an access token says, once its signature, audience, issuer and times checked."""

    user_id: str
    username: str
    roles: frozenset[Role]
    session_id: str
    token_id: str
    issued_at: datetime
    expires_at: datetime


class RefreshVerdict(enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    REPLAYED = "replayed"


class RefreshToken(msgspec.Struct, frozen=True):
    id: str
    family_id: str
    user_id: str
    token_hash: str
    issued_at: datetime
    expires_at: datetime
    session_started_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    def assess(self, now: datetime) -> RefreshVerdict:
        """Revoked beats replayed beats expired: a reused token of a live family is a theft."""
        if self.revoked_at is not None:
            return RefreshVerdict.REVOKED
        if self.used_at is not None:
            return RefreshVerdict.REPLAYED
        if now >= self.expires_at:
            return RefreshVerdict.EXPIRED
        return RefreshVerdict.VALID


def start_family(
    *,
    token_id: str,
    family_id: str,
    user_id: str,
    token_hash: str,
    now: datetime,
    policy: SessionPolicy,
) -> RefreshToken:
    """The first refresh token of a new sign-in session."""
    return RefreshToken(
        id=token_id,
        family_id=family_id,
        user_id=user_id,
        token_hash=token_hash,
        issued_at=now,
        expires_at=now + min(policy.refresh_ttl, policy.max_session_age),
        session_started_at=now,
    )


def successor(
    current: RefreshToken,
    *,
    token_id: str,
    token_hash: str,
    now: datetime,
    policy: SessionPolicy,
) -> RefreshToken:
    """The token that replaces ``current``; it never outlives the session's maximum age."""
    session_end = current.session_started_at + policy.max_session_age
    return RefreshToken(
        id=token_id,
        family_id=current.family_id,
        user_id=current.user_id,
        token_hash=token_hash,
        issued_at=now,
        expires_at=min(now + policy.refresh_ttl, session_end),
        session_started_at=current.session_started_at,
    )


class TokenPair(msgspec.Struct, frozen=True):
    """What sign-in and refresh return. The refresh token is shown here and never again."""

    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    token_type: str = "Bearer"
