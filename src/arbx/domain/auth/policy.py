"""The RBAC policy: may this principal do that, to this resource?

Three rules, applied in order:

1. The principal must hold the permission (roles through the matrix, narrowed by scopes).
2. Owned resources: a permission in ``OWNED`` allows acting on a resource only when the
   principal owns it, unless the principal also holds the matching "any" permission
   (an analyst edits only own strategies; an admin edits anybody's).
3. Shareable resources: for a permission in ``SHAREABLE`` a resource marked shared is
   allowed to every holder of the permission (an analyst sees shared results).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import msgspec

from arbx.domain.auth.permissions import Permission
from arbx.domain.auth.principal import Principal
from arbx.domain.errors import Forbidden, Unauthenticated

OWNED: Mapping[Permission, Permission] = MappingProxyType(
    {
        Permission.STRATEGIES_WRITE: Permission.STRATEGIES_WRITE_ANY,
        Permission.STRATEGIES_READ: Permission.STRATEGIES_WRITE_ANY,
        Permission.RESULTS_READ: Permission.RESULTS_READ_ANY,
        Permission.API_KEYS_WRITE: Permission.API_KEYS_WRITE_ANY,
    }
)
"""Permission on an owned resource -> the permission that overrides ownership."""

SHAREABLE: frozenset[Permission] = frozenset({Permission.STRATEGIES_READ, Permission.RESULTS_READ})
"""Permissions a shared resource grants to every holder, whoever owns it."""


class Resource(msgspec.Struct, frozen=True):
    """The object acted on: who owns it and whether its owner shared it with the team."""

    owner_id: str
    shared: bool = False


class Decision(msgspec.Struct, frozen=True):
    allowed: bool
    reason: str


def decide(
    principal: Principal | None, permission: Permission, resource: Resource | None = None
) -> Decision:
    """Allow or deny, with the reason (for the audit log and the 403 message)."""
    if principal is None:
        return Decision(False, "authentication required")
    if not principal.has(permission):
        return Decision(False, f"permission {permission.value!r} is required")
    if resource is None or permission not in OWNED:
        return Decision(True, f"holds {permission.value!r}")
    if resource.owner_id == principal.user_id:
        return Decision(True, "owner")
    if resource.shared and permission in SHAREABLE:
        return Decision(True, "shared by its owner")
    override = OWNED[permission]
    if principal.has(override):
        return Decision(True, f"holds {override.value!r}")
    return Decision(False, f"only the owner or a holder of {override.value!r} may do this")


def can(
    principal: Principal | None, permission: Permission, resource: Resource | None = None
) -> bool:
    return decide(principal, permission, resource).allowed


def require(
    principal: Principal | None, permission: Permission, resource: Resource | None = None
) -> None:
    """Raise ``Unauthenticated`` without a principal, ``Forbidden`` (with the reason) when
    ``decide`` denies."""
    if principal is None:
        raise Unauthenticated("authentication required: send a bearer token or an API key")
    decision = decide(principal, permission, resource)
    if not decision.allowed:
        raise Forbidden(f"not allowed: {decision.reason}")
