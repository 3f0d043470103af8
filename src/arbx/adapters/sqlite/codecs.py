"""How domain values are stored in the SQLite tables: times as exact UTC microseconds since
the epoch (INTEGER columns), roles as one comma-separated TEXT column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from arbx.domain.auth import Role

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def to_micros(moment: datetime) -> int:
    """Exact UTC microseconds since the epoch."""
    return (moment - _EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    return _EPOCH + value * _MICRO


def maybe_micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def maybe_datetime(value: int | None) -> datetime | None:
    return None if value is None else from_micros(value)


def roles_text(roles: frozenset[Role]) -> str:
    return ",".join(sorted(role.value for role in roles))


def parse_roles(text: str | None) -> frozenset[Role]:
    return frozenset(Role(value) for value in (text or "").split(",") if value)
