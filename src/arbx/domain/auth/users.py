"""Users: identity, account state and roles."""

from __future__ import annotations

import enum
import re
from datetime import datetime

import msgspec

from arbx.domain.auth.permissions import Role
from arbx.domain.errors import InvalidInput

_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


class UserState(enum.Enum):
    ACTIVE = "active"
    DISABLED = "disabled"


def normalize_username(text: str) -> str:
    """The canonical username: stripped, lower case; 3-64 of a-z 0-9 . _ - (letter/digit first).

    Usernames are unique in this form, so "Alice" and "alice" are the same account.
    """
    name = text.strip().lower()
    if not _USERNAME_RE.match(name):
        raise InvalidInput(
            "username must be 3-64 characters of a-z, 0-9, '.', '_' or '-', starting with a"
            " letter or digit",
            field="username",
        )
    return name


class User(msgspec.Struct, frozen=True):
    id: str
    username: str
    roles: frozenset[Role]
    created_at: datetime
    state: UserState = UserState.ACTIVE

    def __post_init__(self) -> None:
        if normalize_username(self.username) != self.username:
            raise InvalidInput(
                f"username {self.username!r} is not in canonical form", field="username"
            )
        if self.created_at.tzinfo is None:
            raise InvalidInput("created_at must be timezone-aware (UTC)", field="created_at")

    @property
    def is_active(self) -> bool:
        return self.state is UserState.ACTIVE

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    def with_roles(self, roles: frozenset[Role]) -> User:
        return msgspec.structs.replace(self, roles=frozenset(roles))

    def with_state(self, state: UserState) -> User:
        return msgspec.structs.replace(self, state=state)


class UserCredentials(msgspec.Struct, frozen=True):
    """A user with the encoded password hash, as the store returns it for sign-in only."""

    user: User
    password_hash: str
