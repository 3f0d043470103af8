"""Opaque secrets (refresh tokens, API keys) and their keyed hashes.

These secrets carry 256 bits of randomness, so a slow password hash would buy nothing: an
HMAC-SHA256 under a server-side key ("pepper") from configuration is enough, is
deterministic (stores index it to find a token) and cannot be recomputed from a stolen
database without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from arbx.domain.auth import format_api_key
from arbx.domain.errors import InvalidInput
from arbx.ports.token_service import SecretService

MIN_KEY_BYTES = 32


class HmacSecretService(SecretService):
    def __init__(self, *, hash_key: str) -> None:
        raw = hash_key.encode()
        if len(raw) < MIN_KEY_BYTES:
            raise InvalidInput(
                f"the secret hash key must be at least {MIN_KEY_BYTES} bytes", field="hash_key"
            )
        self._key = raw

    def new_refresh_token(self) -> str:
        return secrets.token_urlsafe(32)

    def new_api_key(self) -> str:
        return format_api_key(secrets.token_hex(6), secrets.token_urlsafe(32))

    def digest(self, secret: str) -> str:
        return hmac.new(self._key, secret.encode(), hashlib.sha256).hexdigest()

    def matches(self, secret: str, digest: str) -> bool:
        return hmac.compare_digest(self.digest(secret), digest)

    def __repr__(self) -> str:
        return "HmacSecretService(hash_key=***)"
