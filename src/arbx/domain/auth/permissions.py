"""Roles, permissions and the ONE matrix that says which role may do what.

Roles are cumulative: viewer < analyst < operator < admin. Every route declares one
permission; ownership and sharing rules on top of the matrix live in ``policy.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from arbx.domain.errors import InvalidInput


class Role(enum.Enum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    OPERATOR = "operator"
    ADMIN = "admin"

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(role.value for role in cls)
            raise InvalidInput(
                f"role {text!r} does not exist; use one of {names}", field="roles"
            ) from None

    @classmethod
    def parse_many(cls, texts: Iterable[str]) -> frozenset[Role]:
        return frozenset(cls.parse(text) for text in texts)


class Permission(enum.Enum):
    """What a principal may do. Values are stable strings ("data:read") for tokens and scopes."""

    DATA_READ = "data:read"  # series, bars, exchanges' markets
    DATA_WRITE = "data:write"  # upload bars, delete bars
    QUALITY_READ = "quality:read"  # quality reports, gaps
    QUALITY_REPAIR = "quality:repair"  # repair gaps, fill from another venue
    RESULTS_READ = "results:read"  # own or shared backtest/optimization results
    RESULTS_READ_ANY = "results:read_any"  # everybody's results, shared or not
    BACKTESTS_RUN = "backtests:run"  # backtests, optimizations, walk-forward
    STRATEGIES_READ = "strategies:read"  # own or shared strategy definitions
    STRATEGIES_WRITE = "strategies:write"  # create, version, roll back OWN strategies
    STRATEGIES_WRITE_ANY = "strategies:write_any"  # anybody's strategies
    EXCHANGES_READ = "exchanges:read"  # configured venues and their status
    INGEST_RUN = "ingest:run"  # start collection / backfill
    JOBS_READ = "jobs:read"  # list jobs, see status and progress
    JOBS_MANAGE = "jobs:manage"  # schedule, pause, cancel jobs
    API_KEYS_WRITE = "api_keys:write"  # create, list, revoke OWN api keys
    API_KEYS_WRITE_ANY = "api_keys:write_any"  # anybody's api keys
    USERS_MANAGE = "users:manage"  # create, disable, reset password, assign roles
    AUDIT_READ = "audit:read"
    OBSERVABILITY_READ = "observability:read"  # /metrics, component health, alerts and history
    ALERTS_MANAGE = "alerts:manage"  # create, change, delete and test alert rules

    @classmethod
    def parse(cls, text: str) -> Permission:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise InvalidInput(
                f"permission {text!r} does not exist; use one of "
                + ", ".join(p.value for p in cls),
                field="scopes",
            ) from None


_VIEWER = frozenset(
    {
        Permission.DATA_READ,
        Permission.QUALITY_READ,
        Permission.RESULTS_READ,
        Permission.STRATEGIES_READ,
        Permission.EXCHANGES_READ,
    }
)
_ANALYST = _VIEWER | {
    Permission.BACKTESTS_RUN,
    Permission.STRATEGIES_WRITE,
    Permission.API_KEYS_WRITE,
}
_OPERATOR = _ANALYST | {
    Permission.DATA_WRITE,
    Permission.QUALITY_REPAIR,
    Permission.INGEST_RUN,
    Permission.JOBS_READ,
    Permission.JOBS_MANAGE,
    Permission.OBSERVABILITY_READ,
    Permission.ALERTS_MANAGE,
}
_ADMIN = frozenset(Permission)

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.VIEWER: _VIEWER,
        Role.ANALYST: _ANALYST,
        Role.OPERATOR: _OPERATOR,
        Role.ADMIN: _ADMIN,
    }
)
"""THE permission matrix. Change access here and nowhere else."""


def permissions_of(roles: Iterable[Role]) -> frozenset[Permission]:
    """The union of the permissions of ``roles``."""
    granted: frozenset[Permission] = frozenset()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return granted
