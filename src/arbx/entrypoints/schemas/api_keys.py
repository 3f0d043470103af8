"""What an API key request may ask for: a lifetime in days and a subset of roles."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from arbx.domain.auth import Role
from arbx.domain.errors import InvalidInput
from arbx.entrypoints.schemas.naming import Naming, as_field

MAX_LIFETIME_DAYS = 3650


def lifetime(days: int, *, name: Naming = as_field) -> timedelta:
    if not 1 <= days <= MAX_LIFETIME_DAYS:
        raise InvalidInput(
            f"{name('expires_in_days')} must be between 1 and {MAX_LIFETIME_DAYS}",
            field="expires_in_days",
        )
    return timedelta(days=days)


def roles_of(names: Iterable[str] | None) -> frozenset[Role] | None:
    """``None``: all the owner's roles; else the roles named (``InvalidInput`` on an unknown)."""
    return None if names is None else Role.parse_many(names)
