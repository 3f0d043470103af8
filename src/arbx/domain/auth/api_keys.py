"""API keys for scripts and services: a visible prefix plus a secret shown once.

The plain key reads ``arbx_<prefix>_<secret>``: ``prefix`` (12 lower-case hex digits) is
stored in clear to find the key and to show in lists; the whole key is stored only as a keyed
hash. A key carries roles (a subset of its owner's when created) and acts for its owner with
the roles both still hold.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime

import msgspec

from arbx.domain.auth.permissions import Permission, Role, permissions_of
from arbx.domain.errors import InvalidInput

API_KEY_SCHEME = "arbx"
_API_KEY_RE = re.compile(r"^arbx_([0-9a-f]{12})_([A-Za-z0-9_-]{32,128})$")
_PREFIX_RE = re.compile(r"^[0-9a-f]{12}$")


class ApiKeyStatus(enum.Enum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


def format_api_key(prefix: str, secret: str) -> str:
    text = f"{API_KEY_SCHEME}_{prefix}_{secret}"
    if not _API_KEY_RE.match(text):
        raise InvalidInput("api key parts are malformed", field="api_key")
    return text


def api_key_prefix(text: str) -> str | None:
    """The prefix of a well-formed plain key, or None when ``text`` is not one."""
    match = _API_KEY_RE.match(text.strip())
    return match.group(1) if match else None


def looks_like_api_key(text: str) -> bool:
    """True for text in the API key scheme (JWTs never start with ``arbx_``)."""
    return text.strip().startswith(f"{API_KEY_SCHEME}_")


def check_key_name(name: str) -> str:
    clean = name.strip()
    if not 1 <= len(clean) <= 64 or not clean.isprintable():
        raise InvalidInput(
            "api key name must be 1-64 printable characters, e.g. 'nightly-backfill'",
            field="name",
        )
    return clean


class ApiKey(msgspec.Struct, frozen=True):
    id: str
    name: str
    owner_id: str
    prefix: str
    secret_hash: str
    roles: frozenset[Role]
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise InvalidInput("api key prefix must be 12 lower-case hex digits", field="prefix")
        if not self.roles:
            raise InvalidInput("an api key needs at least one role", field="roles")
        if self.expires_at is not None and self.expires_at <= self.created_at:
            raise InvalidInput("api key expiry must be after its creation", field="expires_at")

    def status(self, now: datetime) -> ApiKeyStatus:
        if self.revoked_at is not None:
            return ApiKeyStatus.REVOKED
        if self.expires_at is not None and now >= self.expires_at:
            return ApiKeyStatus.EXPIRED
        return ApiKeyStatus.ACTIVE

    def is_usable(self, now: datetime) -> bool:
        return self.status(now) is ApiKeyStatus.ACTIVE

    def fits(self, owner_roles: frozenset[Role]) -> bool:
        """True when the key grants nothing its owner's roles do not (roles are cumulative,
        so an analyst may hold a viewer key)."""
        return permissions_of(self.roles) <= permissions_of(owner_roles)

    def roles_in_force(self, owner_roles: frozenset[Role]) -> frozenset[Role]:
        """The key's roles as they stand now: each of its roles its owner still covers, and
        each of the owner's roles that the key covers (an analyst key of an owner demoted to
        viewer acts, and is shown, as a viewer key)."""
        owner = permissions_of(owner_roles)
        mine = permissions_of(self.roles)
        kept = {r for r in self.roles if permissions_of(frozenset({r})) <= owner}
        capped = {r for r in owner_roles if permissions_of(frozenset({r})) <= mine}
        return frozenset(kept | capped)

    def scopes_for(self, owner_roles: frozenset[Role]) -> frozenset[Permission]:
        """What the key may do now: its roles' permissions that its owner still holds."""
        return permissions_of(self.roles) & permissions_of(owner_roles)
