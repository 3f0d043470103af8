"""Opaque secrets and their keyed hashes."""

from __future__ import annotations

import pytest

from arbx.adapters.security.secrets import HmacSecretService
from arbx.domain.auth import api_key_prefix
from arbx.domain.errors import InvalidInput

KEY = "pepper-" + "p" * 40


def test_api_keys_are_well_formed_and_unique() -> None:
    svc = HmacSecretService(hash_key=KEY)
    keys = {svc.new_api_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert api_key_prefix(key) is not None
        assert len(key) >= len("arbx_") + 12 + 1 + 43


def test_digest_is_keyed_deterministic_and_compared_safely() -> None:
    svc = HmacSecretService(hash_key=KEY)
    other = HmacSecretService(hash_key="another-" + "k" * 40)
    token = svc.new_refresh_token()
    assert len(token) >= 43
    assert svc.digest(token) == svc.digest(token)
    assert svc.digest(token) != other.digest(token)
    assert token not in svc.digest(token)
    assert svc.matches(token, svc.digest(token))
    assert not svc.matches(token + "x", svc.digest(token))


def test_short_key_is_refused_and_never_printed() -> None:
    with pytest.raises(InvalidInput):
        HmacSecretService(hash_key="short")
    assert KEY not in repr(HmacSecretService(hash_key=KEY))
