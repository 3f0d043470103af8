"""Who is asking: a signed-in user or an API key acting for its owner."""

from __future__ import annotations

import enum

import msgspec

from arbx.domain.auth.permissions import Permission, Role, permissions_of


class PrincipalKind(enum.Enum):
    USER = "user"
    API_KEY = "api_key"


class Principal(msgspec.Struct, frozen=True):
    """An authenticated caller.

    ``user_id`` is the acting user (for an API key: its owner), the identity ownership rules
    compare against. ``roles`` are the roles in force for this request (for an API key: the
    key's roles still held by its owner). ``scopes``, when not None, narrow what the roles
    grant; they never widen it.
    """

    kind: PrincipalKind
    user_id: str
    username: str
    roles: frozenset[Role]
    scopes: frozenset[Permission] | None = None
    api_key_id: str | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        granted = permissions_of(self.roles)
        return granted if self.scopes is None else granted & self.scopes

    def has(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def actor(self) -> str:
        """The audit log's "who": ``user:<id>`` or ``api_key:<id>`` (acting for a user)."""
        if self.kind is PrincipalKind.API_KEY:
            return f"api_key:{self.api_key_id}"
        return f"user:{self.user_id}"
