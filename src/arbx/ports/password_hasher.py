"""The password hasher port."""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol


class PasswordHasher(Protocol):
    """Slow, salted password hashing (argon2id in production).

    Methods are async because hashing is CPU-bound on purpose: adapters run it off the event
    loop. ``verify`` returns False for a wrong password or an unreadable hash (never raises
    for those). ``needs_rehash`` is True when the hash was made with other parameters than
    the current ones, so sign-in can upgrade it.
    """

    @abstractmethod
    async def hash(self, password: str) -> str: ...

    @abstractmethod
    async def verify(self, password_hash: str, password: str) -> bool: ...

    @abstractmethod
    def needs_rehash(self, password_hash: str) -> bool: ...
