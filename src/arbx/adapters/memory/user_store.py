"""A UserStore held in dicts: the reference adapter for the contract suite and use-case tests."""

from __future__ import annotations

from arbx.domain.auth import Role, User, UserCredentials
from arbx.domain.errors import Conflict, NotFound
from arbx.ports.user_store import UserStore


class MemoryUserStore(UserStore):
    # No await happens between a check and its write, so each method is atomic on the loop.

    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._hashes: dict[str, str] = {}

    async def add(self, user: User, password_hash: str, *, only_if_no_admin: bool = False) -> None:
        if user.id in self._users:
            raise Conflict(f"user id {user.id!r} exists already")
        if any(u.username == user.username for u in self._users.values()):
            raise Conflict(f"username {user.username!r} is taken")
        if only_if_no_admin and self._active_admins() > 0:
            raise Conflict("an admin exists already; ask them to create your account")
        self._users[user.id] = user
        self._hashes[user.id] = password_hash

    async def get(self, user_id: str) -> User:
        try:
            return self._users[user_id]
        except KeyError:
            raise NotFound(f"user {user_id!r} does not exist") from None

    async def find_by_username(self, username: str) -> User | None:
        return next((u for u in self._users.values() if u.username == username), None)

    async def credentials(self, username: str) -> UserCredentials | None:
        user = await self.find_by_username(username)
        if user is None:
            return None
        return UserCredentials(user=user, password_hash=self._hashes[user.id])

    async def update(self, user: User) -> None:
        stored = await self.get(user.id)
        self._users[user.id] = User(
            id=stored.id,
            username=stored.username,
            created_at=stored.created_at,
            roles=user.roles,
            state=user.state,
        )

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self.get(user_id)
        self._hashes[user_id] = password_hash

    async def list(self) -> list[User]:
        return sorted(self._users.values(), key=lambda u: u.username)

    async def count_active_admins(self) -> int:
        return self._active_admins()

    def _active_admins(self) -> int:
        return sum(1 for u in self._users.values() if u.is_active and Role.ADMIN in u.roles)
