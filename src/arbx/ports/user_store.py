"""The user store port: accounts and their password hashes."""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

from arbx.domain.auth import User, UserCredentials


class UserStore(Protocol):
    """Users, unique on id and on (canonical) username.

    Contract (tests/contract/test_auth_stores.py holds every adapter to it):
    - ``add`` stores a new user with its password hash; a taken id or username raises
      ``Conflict`` and stores nothing. With ``only_if_no_admin=True`` it also raises
      ``Conflict`` when an active admin exists, atomically (two concurrent first-admin
      creations cannot both succeed).
    - ``get`` returns the user or raises ``NotFound``; ``find_by_username`` and
      ``credentials`` return None for an unknown name (they never raise for it).
    - ``update`` replaces roles and state of an existing user (``NotFound`` otherwise); the
      username and creation time never change.
    - ``set_password_hash`` replaces the hash (``NotFound`` for an unknown id).
    - ``list`` returns every user sorted by username; ``count_active_admins`` counts active
      users holding the admin role.
    """

    @abstractmethod
    async def add(
        self, user: User, password_hash: str, *, only_if_no_admin: bool = False
    ) -> None: ...

    @abstractmethod
    async def get(self, user_id: str) -> User: ...

    @abstractmethod
    async def find_by_username(self, username: str) -> User | None: ...

    @abstractmethod
    async def credentials(self, username: str) -> UserCredentials | None: ...

    @abstractmethod
    async def update(self, user: User) -> None: ...

    @abstractmethod
    async def set_password_hash(self, user_id: str, password_hash: str) -> None: ...

    @abstractmethod
    async def list(self) -> list[User]: ...

    @abstractmethod
    async def count_active_admins(self) -> int: ...
