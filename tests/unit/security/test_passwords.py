"""argon2id hashing, verification and rehash detection."""

from __future__ import annotations

from arbx.adapters.security.passwords import Argon2PasswordHasher

FAST = {"time_cost": 1, "memory_cost_kib": 1024, "parallelism": 1}


async def test_hash_verify_round_trip() -> None:
    hasher = Argon2PasswordHasher(**FAST)
    encoded = await hasher.hash("correct horse battery")
    assert encoded.startswith("$argon2id$")
    assert "correct horse" not in encoded
    assert await hasher.verify(encoded, "correct horse battery")
    assert not await hasher.verify(encoded, "correct horse batterY")
    assert encoded != await hasher.hash("correct horse battery")  # salted


async def test_unreadable_hash_is_a_mismatch_not_an_error() -> None:
    hasher = Argon2PasswordHasher(**FAST)
    assert not await hasher.verify("not-a-hash", "whatever")
    assert not await hasher.verify("$argon2id$v=19$m=1024,t=1,p=1$broken", "whatever")
    assert hasher.needs_rehash("not-a-hash")


async def test_changed_parameters_need_rehash() -> None:
    old = Argon2PasswordHasher(**FAST)
    new = Argon2PasswordHasher(time_cost=2, memory_cost_kib=2048, parallelism=1)
    encoded = await old.hash("correct horse battery")
    assert not old.needs_rehash(encoded)
    assert new.needs_rehash(encoded)
    assert await new.verify(encoded, "correct horse battery")  # old hashes still verify
    assert not new.needs_rehash(await new.hash("correct horse battery"))
