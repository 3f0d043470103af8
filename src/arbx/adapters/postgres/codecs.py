"""How domain values come back from PostgreSQL: times in UTC, roles as text arrays."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from arbx.domain.auth import Role


def as_utc(moment: datetime) -> datetime:
    """Stored times come back in the session's time zone; the domain speaks UTC."""
    return moment.astimezone(UTC)


def maybe_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def role_names(roles: Iterable[Role]) -> list[str]:
    return sorted(role.value for role in roles)


def parse_roles(names: Iterable[str] | None) -> frozenset[Role]:
    return frozenset(Role(name) for name in names or ())
