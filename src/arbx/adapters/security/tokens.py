"""Access tokens as JWTs (pyjwt), HS256 with per-kid secrets from configuration.

Why HS256 and not EdDSA: arbx is one process that both issues and verifies its tokens, so
no third party needs a public key; HMAC keys are plain configuration strings that rotate
without a key-generation step, and the ``cryptography`` package EdDSA needs is not a
dependency. The algorithm is pinned: tokens whose header names any other algorithm
(``none`` included) are refused before any signature check.

Verified tokens are remembered (an LRU of ``cache_size`` entries, keyed by the token text):
clients send the same token on every request for its whole life, and pyjwt's decoding costs
~0.2 ms. Only the signature/issuer/audience result is cached; times are checked on every call.

Rotation: ``keys`` lists the signing keys newest first. The first one signs; every listed key
verifies (matched by the ``kid`` header), so a new key is added at the front, and an old key
is removed once the access TTL has passed since it stopped signing.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from arbx.domain.auth import AccessClaims, Role
from arbx.domain.errors import InvalidInput, Unauthenticated
from arbx.ports.clock import Clock
from arbx.ports.token_service import TokenService

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
_KID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_REQUIRED = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "sid"]


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    secret: str

    def __post_init__(self) -> None:
        if not _KID_RE.match(self.kid):
            raise InvalidInput(
                f"signing key id {self.kid!r} must be 1-64 of A-Z a-z 0-9 . _ -", field="kid"
            )
        if len(self.secret.encode()) < MIN_SECRET_BYTES:
            raise InvalidInput(
                f"signing key {self.kid!r} is shorter than {MIN_SECRET_BYTES} bytes; generate"
                " one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`",
                field="secret",
            )

    def __repr__(self) -> str:  # never print the secret
        return f"SigningKey(kid={self.kid!r}, secret=***)"


class JwtTokenService(TokenService):
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: Sequence[SigningKey],
        clock: Clock,
        leeway: timedelta = timedelta(seconds=30),
        cache_size: int = 4096,
    ) -> None:
        if not keys:
            raise InvalidInput("at least one signing key is needed", field="keys")
        kids = [key.kid for key in keys]
        if len(set(kids)) != len(kids):
            raise InvalidInput("signing key ids must be unique", field="kid")
        if not issuer or not audience:
            raise InvalidInput("issuer and audience must not be empty", field="issuer")
        self._issuer = issuer
        self._audience = audience
        self._signer = keys[0]
        self._keys = {key.kid: key.secret for key in keys}
        self._clock = clock
        self._leeway = leeway
        self._cache_size = cache_size
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def issue(
        self,
        *,
        user_id: str,
        username: str,
        roles: frozenset[Role],
        session_id: str,
        token_id: str,
        issued_at: datetime,
        expires_at: datetime,
    ) -> str:
        if expires_at <= issued_at:
            raise InvalidInput("an access token must expire after it is issued", field="ttl")
        payload = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": user_id,
            "name": username,
            "roles": sorted(role.value for role in roles),
            "sid": session_id,
            "jti": token_id,
            "iat": int(issued_at.timestamp()),
            "nbf": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        return jwt.encode(
            payload, self._signer.secret, algorithm=ALGORITHM, headers={"kid": self._signer.kid}
        )

    def verify(self, token: str) -> AccessClaims:
        payload = self._verified.get(token)
        if payload is None:
            payload = self._verify_signed(token)
            if self._cache_size > 0:
                self._verified[token] = payload
                if len(self._verified) > self._cache_size:
                    self._verified.popitem(last=False)
        else:
            self._verified.move_to_end(token)
        self._check_times(payload)
        return self._claims(payload)

    @property
    def cached(self) -> int:
        """How many verified tokens are remembered (for tests and metrics)."""
        return len(self._verified)

    def _verify_signed(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("the access token is malformed") from exc
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated("the access token's algorithm is not accepted")
        kid = header.get("kid")
        secret = self._keys.get(kid) if isinstance(kid, str) else None
        if secret is None:
            raise Unauthenticated("the access token was signed with an unknown key")
        return self._decode(token, secret)

    def _decode(self, token: str, secret: str) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": _REQUIRED,
                    # times are checked against the injected clock in _check_times
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise Unauthenticated("the access token's signature is invalid") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated("the access token is for another audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthenticated("the access token is from another issuer") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"the access token lacks the {exc.claim!r} claim") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("the access token is invalid") from exc
        return payload

    def _check_times(self, payload: dict[str, Any]) -> None:
        now = self._clock.now().timestamp()
        leeway = self._leeway.total_seconds()
        try:
            exp, nbf, iat = (float(payload[name]) for name in ("exp", "nbf", "iat"))
        except (TypeError, ValueError) as exc:
            raise Unauthenticated("the access token's times are malformed") from exc
        if now >= exp + leeway:
            raise Unauthenticated("the access token has expired; refresh it or sign in again")
        if now < nbf - leeway or now < iat - leeway:
            raise Unauthenticated("the access token is not valid yet")

    @staticmethod
    def _claims(payload: dict[str, Any]) -> AccessClaims:
        try:
            roles = frozenset(Role(value) for value in payload.get("roles", []))
            return AccessClaims(
                user_id=str(payload["sub"]),
                username=str(payload.get("name", "")),
                roles=roles,
                session_id=str(payload["sid"]),
                token_id=str(payload["jti"]),
                issued_at=datetime.fromtimestamp(float(payload["iat"]), UTC),
                expires_at=datetime.fromtimestamp(float(payload["exp"]), UTC),
            )
        except (TypeError, ValueError, KeyError) as exc:
            raise Unauthenticated("the access token's claims are malformed") from exc
