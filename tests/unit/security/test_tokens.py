"""JWT access tokens: algorithm pinning, claims, times and key rotation."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest

from arbx.adapters.security.tokens import JwtTokenService, SigningKey
from arbx.domain.auth import Role
from arbx.domain.errors import InvalidInput, Unauthenticated
from tests.unit.auth.fakes import T0, FakeClock

K1 = SigningKey("k1", "first-secret-" + "x" * 60)
K2 = SigningKey("k2", "second-secret-" + "y" * 40)


def service(
    clock: FakeClock, keys: list[SigningKey] | None = None, audience: str = "arbx-api"
) -> JwtTokenService:
    return JwtTokenService(
        issuer="arbx",
        audience=audience,
        keys=keys or [K1],
        clock=clock,
        leeway=timedelta(seconds=5),
    )


def issue(svc: JwtTokenService, clock: FakeClock, ttl: float = 900) -> str:
    now = clock.now()
    return svc.issue(
        user_id="u1",
        username="alice",
        roles=frozenset({Role.ANALYST, Role.VIEWER}),
        session_id="f1",
        token_id="t1",
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )


def test_round_trip() -> None:
    clock = FakeClock()
    svc = service(clock)
    token = issue(svc, clock)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "k1", "typ": "JWT"}
    claims = svc.verify(token)
    assert claims.user_id == "u1"
    assert claims.username == "alice"
    assert claims.roles == {Role.ANALYST, Role.VIEWER}
    assert claims.session_id == "f1"
    assert claims.token_id == "t1"
    assert claims.issued_at == T0
    assert claims.expires_at == T0 + timedelta(seconds=900)


def test_expired_token_is_refused_after_leeway() -> None:
    clock = FakeClock()
    svc = service(clock)
    token = issue(svc, clock, ttl=60)
    clock.advance(64)
    svc.verify(token)  # inside the 5 s leeway
    clock.advance(1)
    with pytest.raises(Unauthenticated, match="expired"):
        svc.verify(token)


def test_not_yet_valid_token_is_refused() -> None:
    clock = FakeClock()
    svc = service(clock)
    token = issue(svc, clock)
    clock.advance(-60)
    with pytest.raises(Unauthenticated, match="not valid yet"):
        svc.verify(token)


def test_wrong_audience_and_issuer() -> None:
    clock = FakeClock()
    other = service(clock, audience="other-api")
    with pytest.raises(Unauthenticated, match="audience"):
        service(clock).verify(issue(other, clock))
    foreign = JwtTokenService(issuer="evil", audience="arbx-api", keys=[K1], clock=clock)
    with pytest.raises(Unauthenticated, match="issuer"):
        service(clock).verify(issue(foreign, clock))


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tampered_payload_fails_signature() -> None:
    clock = FakeClock()
    svc = service(clock)
    header, payload, signature = issue(svc, clock).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["admin"]
    with pytest.raises(Unauthenticated, match="signature"):
        svc.verify(f"{header}.{_b64(claims)}.{signature}")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    with pytest.raises(Unauthenticated):
        svc.verify(f"{header}.{payload}.{flipped}")


def test_alg_none_is_refused() -> None:
    clock = FakeClock()
    svc = service(clock)
    _, payload, _ = issue(svc, clock).split(".")
    for alg in ("none", "None", "HS512", "RS256"):
        forged = f"{_b64({'alg': alg, 'kid': 'k1', 'typ': 'JWT'})}.{payload}."
        with pytest.raises(Unauthenticated, match="algorithm"):
            svc.verify(forged)


def test_hs512_with_the_right_secret_is_still_refused() -> None:
    clock = FakeClock()
    svc = service(clock)
    _, payload, _ = issue(svc, clock).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    token = jwt.encode(claims, K1.secret, algorithm="HS512", headers={"kid": "k1"})
    with pytest.raises(Unauthenticated, match="algorithm"):
        svc.verify(token)


def test_unknown_or_missing_kid() -> None:
    clock = FakeClock()
    stranger = service(clock, keys=[SigningKey("k9", "z" * 40)])
    with pytest.raises(Unauthenticated, match="unknown key"):
        service(clock).verify(issue(stranger, clock))
    _, payload, _ = issue(service(clock), clock).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    no_kid = jwt.encode(claims, K1.secret, algorithm="HS256")
    with pytest.raises(Unauthenticated, match="unknown key"):
        service(clock).verify(no_kid)


def test_missing_claim_is_refused() -> None:
    clock = FakeClock()
    now = int(clock.now().timestamp())
    token = jwt.encode(
        {
            "iss": "arbx",
            "aud": "arbx-api",
            "sub": "u1",
            "iat": now,
            "nbf": now,
            "exp": now + 60,
            "jti": "t",
        },
        K1.secret,
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    with pytest.raises(Unauthenticated, match="'sid'"):
        service(clock).verify(token)


def test_garbage_is_malformed() -> None:
    svc = service(FakeClock())
    for junk in ("", "abc", "a.b.c", "arbx_0123456789ab_" + "s" * 40):
        with pytest.raises(Unauthenticated):
            svc.verify(junk)


def test_rotation_new_key_signs_old_key_verifies_until_removed() -> None:
    clock = FakeClock()
    before = service(clock, keys=[K1])
    old_token = issue(before, clock)
    rotated = service(clock, keys=[K2, K1])
    new_token = issue(rotated, clock)
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    assert rotated.verify(old_token).user_id == "u1"
    assert rotated.verify(new_token).user_id == "u1"
    removed = service(clock, keys=[K2])
    assert removed.verify(new_token).user_id == "u1"
    with pytest.raises(Unauthenticated, match="unknown key"):
        removed.verify(old_token)


def test_configuration_is_checked_and_secrets_not_printed() -> None:
    with pytest.raises(InvalidInput, match="32 bytes"):
        SigningKey("k1", "short")
    with pytest.raises(InvalidInput):
        SigningKey("bad kid!", "x" * 40)
    with pytest.raises(InvalidInput, match="unique"):
        service(FakeClock(), keys=[K1, SigningKey("k1", "q" * 40)])
    with pytest.raises(InvalidInput):
        JwtTokenService(issuer="arbx", audience="a", keys=[], clock=FakeClock())
    assert K1.secret not in repr(K1)
    with pytest.raises(InvalidInput):
        issue(service(FakeClock()), FakeClock(), ttl=0)


def test_cached_tokens_still_expire_and_tampering_is_not_cached() -> None:
    clock = FakeClock()
    svc = service(clock)
    token = issue(svc, clock, ttl=60)
    assert svc.verify(token).user_id == "u1"
    assert svc.verify(token).user_id == "u1"  # from the cache
    header, payload, signature = token.split(".")
    with pytest.raises(Unauthenticated, match="signature"):
        svc.verify(f"{header}.{payload}.{signature[:-2]}AA")
    clock.advance(65)
    with pytest.raises(Unauthenticated, match="expired"):
        svc.verify(token)


def test_cache_is_bounded() -> None:
    clock = FakeClock()
    svc = JwtTokenService(issuer="arbx", audience="arbx-api", keys=[K1], clock=clock, cache_size=2)
    tokens = []
    for i in range(3):
        now = clock.now()
        tokens.append(
            svc.issue(
                user_id=f"u{i}",
                username="alice",
                roles=frozenset(),
                session_id="s",
                token_id=f"t{i}",
                issued_at=now,
                expires_at=now + timedelta(minutes=5),
            )
        )
    for token in tokens:
        svc.verify(token)
    assert [svc.verify(t).user_id for t in tokens] == ["u0", "u1", "u2"]
    assert svc.cached == 2
