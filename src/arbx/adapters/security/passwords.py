"""argon2id password hashing (argon2-cffi), run off the event loop."""

from __future__ import annotations

import asyncio

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from arbx.domain.errors import InvalidInput
from arbx.ports.password_hasher import PasswordHasher


class Argon2PasswordHasher(PasswordHasher):
    """argon2id with RFC 9106's second recommended profile by default (64 MiB, t=3, p=4).

    Changing the parameters makes ``needs_rehash`` true for older hashes; sign-in then stores
    a fresh hash. Tests pass small parameters to stay fast.
    """

    def __init__(
        self,
        *,
        time_cost: int,
        memory_cost_kib: int,
        parallelism: int,
        hash_len: int = 32,
        salt_len: int = 16,
    ) -> None:
        if time_cost < 1 or memory_cost_kib < 8 * parallelism or parallelism < 1:
            raise InvalidInput(
                "argon2 parameters are out of range (time_cost >= 1, parallelism >= 1,"
                " memory_cost_kib >= 8 * parallelism)",
                field="argon2",
            )
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            hash_len=hash_len,
            salt_len=salt_len,
            type=argon2.Type.ID,
        )

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True
