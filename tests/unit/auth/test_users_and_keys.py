"""Users, usernames, API key format, sessions and the audit query."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from arbx.domain.auth import (
    ApiKey,
    ApiKeyStatus,
    AuditEntry,
    AuditEvent,
    AuditOutcome,
    AuditQuery,
    RefreshVerdict,
    Role,
    SessionPolicy,
    User,
    UserState,
    api_key_prefix,
    check_key_name,
    format_api_key,
    looks_like_api_key,
    normalize_username,
    permissions_of,
)
from arbx.domain.auth.sessions import start_family, successor
from arbx.domain.errors import InvalidInput
from tests.unit.auth.fakes import T0


def test_usernames_are_normalized_and_checked() -> None:
    assert normalize_username("  Alice.Smith ") == "alice.smith"
    for bad in ["al", "-alice", "alice smith", "a" * 65, "ali$e", ""]:
        with pytest.raises(InvalidInput) as err:
            normalize_username(bad)
        assert err.value.field == "username"


def test_user_state_and_roles() -> None:
    user = User(id="u1", username="alice", roles=frozenset({Role.ANALYST}), created_at=T0)
    assert user.is_active
    assert not user.is_admin
    disabled = user.with_state(UserState.DISABLED)
    assert not disabled.is_active
    assert user.is_active
    assert user.with_roles(frozenset({Role.ADMIN})).is_admin
    with pytest.raises(InvalidInput):
        User(id="u1", username="Alice", roles=frozenset(), created_at=T0)
    with pytest.raises(InvalidInput):
        User(id="u1", username="alice", roles=frozenset(), created_at=T0.replace(tzinfo=None))


SECRET = "s" * 20 + "-_AZaz0123456789"


def test_api_key_format_round_trip() -> None:
    text = format_api_key("0123456789ab", SECRET)
    assert text == f"arbx_0123456789ab_{SECRET}"
    assert api_key_prefix(text) == "0123456789ab"
    assert looks_like_api_key(text)
    assert not looks_like_api_key("eyJhbGciOiJIUzI1NiJ9.e30.sig")
    for bad in ["arbx_0123_" + SECRET, "arbx_0123456789AB_" + SECRET, "arbx_0123456789ab_short"]:
        assert api_key_prefix(bad) is None
    with pytest.raises(InvalidInput):
        format_api_key("zz", SECRET)


def test_api_key_status() -> None:
    key = ApiKey(
        id="k1",
        name="nightly",
        owner_id="u1",
        prefix="0123456789ab",
        secret_hash="h",
        roles=frozenset({Role.ANALYST}),
        created_at=T0,
        expires_at=T0 + timedelta(days=1),
    )
    assert key.status(T0) is ApiKeyStatus.ACTIVE
    assert key.status(T0 + timedelta(days=1)) is ApiKeyStatus.EXPIRED
    revoked = msgspec.structs.replace(key, revoked_at=T0)
    assert revoked.status(T0) is ApiKeyStatus.REVOKED
    assert not key.fits(frozenset({Role.VIEWER}))
    assert key.fits(frozenset({Role.OPERATOR}))
    viewer_key = msgspec.structs.replace(key, roles=frozenset({Role.VIEWER}))
    assert viewer_key.fits(frozenset({Role.ANALYST}))
    assert key.scopes_for(frozenset({Role.VIEWER})) == permissions_of({Role.VIEWER})
    assert key.scopes_for(frozenset({Role.ADMIN})) == permissions_of({Role.ANALYST})
    with pytest.raises(InvalidInput):
        ApiKey(**{**_fields(key), "roles": frozenset()})
    with pytest.raises(InvalidInput):
        ApiKey(**{**_fields(key), "expires_at": T0})
    assert check_key_name("  nightly ") == "nightly"
    with pytest.raises(InvalidInput):
        check_key_name("bad\nname")


def _fields(key: ApiKey) -> dict[str, object]:
    return {f: getattr(key, f) for f in key.__struct_fields__}


def test_refresh_family_lifecycle() -> None:
    policy = SessionPolicy(
        access_ttl=timedelta(minutes=5),
        refresh_ttl=timedelta(days=1),
        max_session_age=timedelta(days=2),
    )
    first = start_family(
        token_id="t1", family_id="f1", user_id="u1", token_hash="h1", now=T0, policy=policy
    )
    assert first.assess(T0) is RefreshVerdict.VALID
    assert first.assess(T0 + timedelta(days=1)) is RefreshVerdict.EXPIRED
    later = T0 + timedelta(hours=30)
    second = successor(first, token_id="t2", token_hash="h2", now=later, policy=policy)
    assert second.family_id == "f1"
    assert second.session_started_at == T0
    # the session's maximum age caps the successor's life
    assert second.expires_at == T0 + timedelta(days=2)
    used = msgspec.structs.replace(first, used_at=later)
    assert used.assess(later) is RefreshVerdict.REPLAYED
    assert msgspec.structs.replace(used, revoked_at=later).assess(later) is RefreshVerdict.REVOKED


def test_session_policy_is_checked() -> None:
    with pytest.raises(InvalidInput):
        SessionPolicy(access_ttl=timedelta(0))
    with pytest.raises(InvalidInput):
        SessionPolicy(access_ttl=timedelta(days=9), refresh_ttl=timedelta(days=1))


def _entry(seq: int, **kw: object) -> AuditEntry:
    fields: dict[str, object] = {
        "at": T0 + timedelta(minutes=seq),
        "actor": "user:u1",
        "action": "auth.login",
        "outcome": AuditOutcome.SUCCESS,
    }
    fields.update(kw)
    return AuditEntry(seq=seq, event=AuditEvent(**fields))  # type: ignore[arg-type]


def test_audit_event_validation() -> None:
    for bad in ({"action": "Login"}, {"action": "auth..x"}, {"actor": ""}, {"detail": "x" * 501}):
        with pytest.raises(InvalidInput):
            _entry(1, **bad)


def test_audit_query_semantics() -> None:
    login = _entry(1)
    users = _entry(2, action="users.disable", target="user:u2", outcome=AuditOutcome.DENIED)
    logins = _entry(3, action="auth.login_x")
    assert AuditQuery(action="auth").matches(login)
    assert AuditQuery(action="auth").matches(logins)
    assert not AuditQuery(action="auth.login").matches(logins)  # prefix is by dotted segment
    assert AuditQuery(target="user:u2", outcome=AuditOutcome.DENIED).matches(users)
    assert not AuditQuery(before_seq=2).matches(users)
    assert AuditQuery(since=users.event.at).matches(users)
    assert not AuditQuery(until=users.event.at).matches(users)
    with pytest.raises(InvalidInput):
        AuditQuery(limit=0)
    with pytest.raises(InvalidInput):
        AuditQuery(since=T0, until=T0)
