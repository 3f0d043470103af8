"""The audit trail: who did what, to what, when, from where, and how it ended."""

from __future__ import annotations

import enum
import re
from datetime import datetime

import msgspec

from arbx.domain.errors import InvalidInput

_ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
ANONYMOUS = "anonymous"
MAX_DETAIL = 500
MAX_QUERY_LIMIT = 1000


class AuditOutcome(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"  # bad input, bad credentials, conflict...
    DENIED = "denied"  # authenticated but not allowed, throttled


class AuditEvent(msgspec.Struct, frozen=True):
    """One recorded action. ``detail`` is a short reason; it never holds a secret.

    ``actor`` is ``user:<id>``, ``api_key:<id>`` or ``anonymous``; ``action`` a dotted name
    like ``auth.login`` or ``users.disable``; ``target`` what was acted on (``user:<id>``).
    """

    at: datetime
    actor: str
    action: str
    outcome: AuditOutcome
    target: str | None = None
    client_address: str | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise InvalidInput("audit time must be timezone-aware (UTC)", field="at")
        if not self.actor or len(self.actor) > 200:
            raise InvalidInput("audit actor must be 1-200 characters", field="actor")
        if len(self.action) > 64 or not _ACTION_RE.match(self.action):
            raise InvalidInput(
                f"audit action {self.action!r} must be a dotted lower-case name like 'auth.login'",
                field="action",
            )
        if self.detail is not None and len(self.detail) > MAX_DETAIL:
            raise InvalidInput(f"audit detail exceeds {MAX_DETAIL} characters", field="detail")


class AuditEntry(msgspec.Struct, frozen=True):
    """A stored event with its position in the log (increasing, never reused)."""

    seq: int
    event: AuditEvent


class AuditQuery(msgspec.Struct, frozen=True):
    """Filters for reading the log, newest first; page with ``before_seq``.

    ``action`` matches the action or any action under it ("auth" matches "auth.login").
    """

    actor: str | None = None
    action: str | None = None
    outcome: AuditOutcome | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_QUERY_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_QUERY_LIMIT}", field="limit")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InvalidInput("since must be before until", field="since")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise InvalidInput(f"{name} must be timezone-aware (UTC)", field=name)

    def matches(self, entry: AuditEntry) -> bool:
        """The reference semantics every AuditLog adapter follows."""
        event = entry.event
        if self.actor is not None and event.actor != self.actor:
            return False
        if self.action is not None and not (
            event.action == self.action or event.action.startswith(self.action + ".")
        ):
            return False
        if self.outcome is not None and event.outcome is not self.outcome:
            return False
        if self.target is not None and event.target != self.target:
            return False
        if self.since is not None and event.at < self.since:
            return False
        if self.until is not None and event.at >= self.until:
            return False
        return self.before_seq is None or entry.seq < self.before_seq
