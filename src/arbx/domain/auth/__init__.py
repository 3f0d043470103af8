"""Users, roles, permissions, the RBAC policy, sessions, API keys, limits and the audit trail.

Pure code: no framework, no storage, no clock of its own (times are passed in).
"""

from arbx.domain.auth.api_keys import (
    ApiKey,
    ApiKeyStatus,
    api_key_prefix,
    check_key_name,
    format_api_key,
    looks_like_api_key,
)
from arbx.domain.auth.audit import (
    ANONYMOUS,
    AuditEntry,
    AuditEvent,
    AuditOutcome,
    AuditQuery,
)
from arbx.domain.auth.errors import TooManyRequests
from arbx.domain.auth.passwords import check_password, password_problems
from arbx.domain.auth.permissions import ROLE_PERMISSIONS, Permission, Role, permissions_of
from arbx.domain.auth.policy import Decision, Resource, can, decide, require
from arbx.domain.auth.principal import Principal, PrincipalKind
from arbx.domain.auth.sessions import (
    AccessClaims,
    RefreshToken,
    RefreshVerdict,
    SessionPolicy,
    TokenPair,
)
from arbx.domain.auth.users import User, UserCredentials, UserState, normalize_username

__all__ = [
    "ANONYMOUS",
    "ROLE_PERMISSIONS",
    "AccessClaims",
    "ApiKey",
    "ApiKeyStatus",
    "AuditEntry",
    "AuditEvent",
    "AuditOutcome",
    "AuditQuery",
    "Decision",
    "Permission",
    "Principal",
    "PrincipalKind",
    "RefreshToken",
    "RefreshVerdict",
    "Resource",
    "Role",
    "SessionPolicy",
    "TokenPair",
    "TooManyRequests",
    "User",
    "UserCredentials",
    "UserState",
    "api_key_prefix",
    "can",
    "check_key_name",
    "check_password",
    "decide",
    "format_api_key",
    "looks_like_api_key",
    "normalize_username",
    "password_problems",
    "permissions_of",
    "require",
]
