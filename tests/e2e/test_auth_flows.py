"""Sessions, key rotation, lockout, rate limits, headers, the admin API and the audit log,
through the HTTP API on the real local stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import polars as pl
import pytest
from litestar.testing import TestClient

from arbx.domain.auth import Role
from arbx.entrypoints.container import Container, build_container
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import load_settings
from tests.builders import make_bars
from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, AnonymousClient, make_admin_key
from tests.e2e.test_auth_matrix import PASSWORD, bearer, login, make_user

SERIES = {"exchange": "kraken", "symbol": "BTC/USDC", "timeframe": "1m"}


def upload_body(n: int = 5) -> dict[str, Any]:
    rows = make_bars(n).with_columns(pl.col("ts").dt.epoch("ms")).to_dicts()
    return {**SERIES, "bars": rows}


def audit(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/audit", params=params)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


# --- sessions -------------------------------------------------------------------------------


def test_refresh_rotates_and_a_replay_revokes_the_family(
    client: TestClient, anonymous_client: AnonymousClient, container: Container
) -> None:
    make_user(client, container, "rita", Role.ANALYST)
    first = login(anonymous_client, "rita")
    assert first["token_type"] == "Bearer"
    assert 0 < first["expires_in"] <= 900
    second = anonymous_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert (
        anonymous_client.get("/api/v1/auth/me", headers=bearer(rotated["access_token"])).json()[
            "username"
        ]
        == "rita"
    )
    replay = anonymous_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 401
    assert first["refresh_token"] not in replay.text
    # the thief's replay also ended the legitimate successor
    after = anonymous_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert after.status_code == 401
    assert [e["action"] for e in audit(client, action="auth.refresh_replay")] == [
        "auth.refresh_replay"
    ]


def test_logout_ends_one_session_and_logout_all_every_session(
    client: TestClient, anonymous_client: AnonymousClient, container: Container
) -> None:
    make_user(client, container, "lou", Role.VIEWER)
    one, two, three = (login(anonymous_client, "lou") for _ in range(3))
    out = anonymous_client.post("/api/v1/auth/logout", json={"refresh_token": one["refresh_token"]})
    assert out.status_code == 204
    again = anonymous_client.post(
        "/api/v1/auth/logout", json={"refresh_token": one["refresh_token"]}
    )
    assert again.status_code == 204  # idempotent, reveals nothing
    refresh = "/api/v1/auth/refresh"
    assert (
        anonymous_client.post(refresh, json={"refresh_token": one["refresh_token"]}).status_code
        == 401
    )
    everywhere = anonymous_client.post(
        "/api/v1/auth/logout-all", headers=bearer(two["access_token"])
    )
    assert everywhere.status_code == 200
    assert everywhere.json()["revoked"] == 2
    for pair in (two, three):
        assert (
            anonymous_client.post(
                refresh, json={"refresh_token": pair["refresh_token"]}
            ).status_code
            == 401
        )


def test_an_access_token_stops_working_when_its_session_ends(
    client: TestClient, anonymous_client: AnonymousClient, container: Container
) -> None:
    user_id = make_user(client, container, "ada", Role.ANALYST)
    me = "/api/v1/auth/me"
    one, two = login(anonymous_client, "ada"), login(anonymous_client, "ada")
    out = anonymous_client.post("/api/v1/auth/logout", json={"refresh_token": one["refresh_token"]})
    assert out.status_code == 204
    ended = anonymous_client.get(me, headers=bearer(one["access_token"]))
    assert ended.status_code == 401
    assert "session has ended" in ended.json()["detail"]
    assert anonymous_client.get(me, headers=bearer(two["access_token"])).status_code == 200
    # a role change ends every session of the user
    roles = client.put(f"/api/v1/admin/users/{user_id}/roles", json={"roles": ["viewer"]})
    assert roles.status_code == 200, roles.text
    assert anonymous_client.get(me, headers=bearer(two["access_token"])).status_code == 401


def test_change_password_then_only_the_new_one_signs_in(
    client: TestClient, anonymous_client: AnonymousClient, container: Container
) -> None:
    make_user(client, container, "pat", Role.VIEWER)
    token = login(anonymous_client, "pat")["access_token"]
    new = "a brand new passphrase 7"
    wrong = anonymous_client.post(
        "/api/v1/auth/password",
        headers=bearer(token),
        json={"current_password": "not it at all 123", "new_password": new},
    )
    assert wrong.status_code == 401
    weak = anonymous_client.post(
        "/api/v1/auth/password",
        headers=bearer(token),
        json={"current_password": PASSWORD, "new_password": "short"},
    )
    assert weak.status_code == 422
    assert weak.json()["field"] == "password"
    ok = anonymous_client.post(
        "/api/v1/auth/password",
        headers=bearer(token),
        json={"current_password": PASSWORD, "new_password": new},
    )
    assert ok.status_code == 204, ok.text
    bad = anonymous_client.post(
        "/api/v1/auth/login", json={"username": "pat", "password": PASSWORD}
    )
    assert bad.status_code == 401
    login(anonymous_client, "pat", new)


def test_an_api_key_cannot_change_its_owners_password(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/password",
        json={"current_password": ADMIN_PASSWORD, "new_password": "whatever passphrase 9"},
    )
    assert response.status_code == 403


# --- signing key rotation -------------------------------------------------------------------

HASH_KEY = "h" * 48
OLD = {"kid": "old", "secret": "o" * 48}
NEW = {"kid": "new", "secret": "n" * 48}


def _app_with_keys(data_dir: Path, keys: list[dict[str, str]]) -> tuple[TestClient, Container]:
    settings = load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {"data_dir": str(data_dir)},
            "auth": {"signing_keys": keys, "secret_hash_key": HASH_KEY},
        },
    )
    container = build_container(settings)
    return TestClient(create_app(container)), container


def test_signing_key_rotation(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    first, container = _app_with_keys(data_dir, [OLD])
    with first:
        first.blocking_portal.call(make_admin_key, container)
        old_token = login(AnonymousClient(first), ADMIN_USERNAME, ADMIN_PASSWORD)["access_token"]
    rotated, _ = _app_with_keys(data_dir, [NEW, OLD])
    with rotated:
        anonymous = AnonymousClient(rotated)
        assert anonymous.get("/api/v1/auth/me", headers=bearer(old_token)).status_code == 200
        new_token = login(anonymous, ADMIN_USERNAME, ADMIN_PASSWORD)["access_token"]
        assert jwt.get_unverified_header(new_token)["kid"] == "new"
    retired, _ = _app_with_keys(data_dir, [NEW])
    with retired:
        anonymous = AnonymousClient(retired)
        assert anonymous.get("/api/v1/auth/me", headers=bearer(old_token)).status_code == 401
        assert anonymous.get("/api/v1/auth/me", headers=bearer(new_token)).status_code == 200


# --- lockout, rate limits, headers ----------------------------------------------------------


def test_repeated_failures_lock_the_username_out_whether_or_not_it_exists(
    client: TestClient, anonymous_client: AnonymousClient, container: Container
) -> None:
    make_user(client, container, "lock", Role.VIEWER)
    free = container.settings().auth.login_free_failures
    for name in ("lock", "nobody-here"):
        statuses = [
            anonymous_client.post(
                "/api/v1/auth/login", json={"username": name, "password": "wrong password 1"}
            ).status_code
            for _ in range(free + 1)
        ]
        assert statuses == [401] * (free + 1)
        locked = anonymous_client.post(
            "/api/v1/auth/login", json={"username": name, "password": PASSWORD}
        )
        assert locked.status_code == 429, name
        assert int(locked.headers["Retry-After"]) >= 1
        assert locked.json()["type"] == "urn:arbx:problem:too-many-requests"
    detail = anonymous_client.post(
        "/api/v1/auth/login", json={"username": "other-user", "password": "wrong password 1"}
    ).json()["detail"]
    assert detail == "invalid username or password"


@pytest.fixture
def limited_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "var")},
            "auth": {
                "rate_limits": {
                    "read": {"per_minute": 60, "burst": 3},
                    "auth": {"per_minute": 60, "burst": 2},
                }
            },
            "http": {"max_body_bytes": 2048},
        },
    )
    container = build_container(settings)
    with TestClient(create_app(container)) as test_client:
        test_client.headers["X-API-Key"] = test_client.blocking_portal.call(
            make_admin_key, container
        )
        yield test_client


def test_rate_limit_headers_and_429(limited_client: TestClient) -> None:
    remaining = []
    for _ in range(3):
        response = limited_client.get("/api/v1/series")
        assert response.status_code == 200
        assert response.headers["RateLimit-Limit"] == "3"
        remaining.append(int(response.headers["RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    refused = limited_client.get("/api/v1/series")
    assert refused.status_code == 429
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    assert "rate limit" in refused.json()["detail"]
    # another group has its own bucket
    assert limited_client.post("/api/v1/bars", json=upload_body(1)).status_code == 200


def test_login_is_limited_per_address(limited_client: TestClient) -> None:
    anonymous = AnonymousClient(limited_client)
    body = {"username": "someone", "password": "wrong password 1"}
    statuses = [anonymous.post("/api/v1/auth/login", json=body).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_sign_ins_refused_by_the_rate_limit_are_audited(limited_client: TestClient) -> None:
    anonymous = AnonymousClient(limited_client)
    statuses = [
        anonymous.post(
            "/api/v1/auth/login", json={"username": "nobody", "password": "wrong password 1"}
        ).status_code
        for _ in range(5)
    ]
    assert statuses.count(429) == 3, statuses
    entries = audit(limited_client, action="auth.login", limit=100)
    assert len(entries) == 5  # every attempt, the refused ones too
    limited = [e for e in entries if e["outcome"] == "denied" and "429" in (e["detail"] or "")]
    assert len(limited) == 3


def test_request_bodies_over_the_limit_are_refused(limited_client: TestClient) -> None:
    response = limited_client.post("/api/v1/bars", json=upload_body(100))
    assert response.status_code == 413


def test_security_headers(client: TestClient, anonymous_client: AnonymousClient) -> None:
    for response in (client.get("/api/v1/series"), anonymous_client.get("/health")):
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert "Strict-Transport-Security" not in headers  # plain HTTP
    assert (
        "frame-ancestors 'none'" in client.get("/schema/swagger").headers["Content-Security-Policy"]
    )
    assert "X-Frame-Options" in client.get("/no/such/route").headers


def test_hsts_over_tls(container: Container) -> None:
    with TestClient(create_app(container), base_url="https://testserver.local") as tls:
        assert tls.get("/health").headers["Strict-Transport-Security"].startswith("max-age=")


def test_cors_is_closed_by_default_and_opens_per_origin(tmp_path: Path, client: TestClient) -> None:
    preflight = {"Origin": "https://ui.example", "Access-Control-Request-Method": "GET"}
    closed = client.options("/api/v1/series", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    settings = load_settings(
        profile="test",
        environ={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "cors")},
            "http": {"cors_origins": ["https://ui.example"]},
        },
    )
    with TestClient(create_app(build_container(settings))) as open_client:
        allowed = open_client.options("/api/v1/series", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://ui.example"
        other = open_client.options(
            "/api/v1/series", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"


# --- the admin API --------------------------------------------------------------------------


def test_admin_manages_users_and_roles(
    client: TestClient, anonymous_client: AnonymousClient
) -> None:
    created = client.post(
        "/api/v1/admin/users",
        json={"username": "Nina", "password": PASSWORD, "roles": ["analyst"]},
    )
    assert created.status_code == 201, created.text
    nina = created.json()
    assert (nina["username"], nina["roles"], nina["state"]) == ("nina", ["analyst"], "active")
    duplicate = client.post(
        "/api/v1/admin/users", json={"username": "nina", "password": PASSWORD, "roles": ["viewer"]}
    )
    assert duplicate.status_code == 409
    bad_role = client.post(
        "/api/v1/admin/users", json={"username": "x-user", "password": PASSWORD, "roles": ["god"]}
    )
    assert (bad_role.status_code, bad_role.json()["field"]) == (422, "roles")
    weak = client.post(
        "/api/v1/admin/users", json={"username": "y-user", "password": "aaaa", "roles": ["viewer"]}
    )
    assert weak.status_code == 422
    assert "aaaa" not in weak.text
    names = [u["username"] for u in client.get("/api/v1/admin/users").json()["users"]]
    assert names == sorted([ADMIN_USERNAME, "nina"])
    user_url = f"/api/v1/admin/users/{nina['id']}"
    assert client.get(user_url).json()["username"] == "nina"
    assert client.get("/api/v1/admin/users/nope").status_code == 404
    promoted = client.put(f"{user_url}/roles", json={"roles": ["operator"]})
    assert promoted.json()["roles"] == ["operator"]
    token = login(anonymous_client, "nina")["access_token"]
    assert (
        client.post(
            f"{user_url}/reset-password", json={"new_password": "reset passphrase 55"}
        ).status_code
        == 204
    )
    old_refresh = anonymous_client.post(
        "/api/v1/auth/login", json={"username": "nina", "password": PASSWORD}
    )
    assert old_refresh.status_code == 401
    fresh = login(anonymous_client, "nina", "reset passphrase 55")["access_token"]
    # a reset ends the user's sessions: the access token issued before it stops working at
    # once (issue 12; it used to work until it expired)
    assert anonymous_client.get("/api/v1/series", headers=bearer(token)).status_code == 401
    assert anonymous_client.get("/api/v1/series", headers=bearer(fresh)).status_code == 200
    roles = {r["role"]: r["permissions"] for r in client.get("/api/v1/admin/roles").json()["roles"]}
    assert set(roles) == {r.value for r in Role}
    assert "audit:read" in roles["admin"]
    assert "audit:read" not in roles["operator"]


def test_the_last_admin_cannot_be_disabled_or_demoted(client: TestClient) -> None:
    me = client.get("/api/v1/auth/me").json()
    url = f"/api/v1/admin/users/{me['user_id']}"
    assert client.post(f"{url}/disable").status_code == 409
    assert client.put(f"{url}/roles", json={"roles": ["viewer"]}).status_code == 409
    assert client.get("/api/v1/series").status_code == 200


def test_api_keys_own_and_admin(
    client: TestClient, anonymous_client: AnonymousClient, container: Container
) -> None:
    user_id = make_user(client, container, "kay", Role.ANALYST)
    token = bearer(login(anonymous_client, "kay")["access_token"])
    made = anonymous_client.post(
        "/api/v1/api-keys", headers=token, json={"name": "nightly", "expires_in_days": 30}
    )
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["secret"].startswith(f"arbx_{key['key']['prefix']}_")
    assert key["key"]["roles"] == ["analyst"]
    too_much = anonymous_client.post(
        "/api/v1/api-keys", headers=token, json={"name": "x", "roles": ["admin"]}
    )
    assert too_much.status_code == 422
    listed = anonymous_client.get("/api/v1/api-keys", headers=token).json()["api_keys"]
    assert [k["name"] for k in listed] == ["nightly"]
    assert "secret" not in listed[0]
    assert key["secret"] not in str(listed)
    use = anonymous_client.get("/api/v1/series", headers={"X-API-Key": key["secret"]})
    assert use.status_code == 200
    assert anonymous_client.get("/api/v1/api-keys", headers=token).json()["api_keys"][0][
        "last_used_at"
    ]
    admin = bearer(login(anonymous_client, ADMIN_USERNAME, ADMIN_PASSWORD)["access_token"])
    by_admin = anonymous_client.post(
        "/api/v1/admin/api-keys",
        headers=admin,
        json={"owner_id": user_id, "name": "ops", "roles": ["viewer"]},
    )
    assert by_admin.status_code == 201, by_admin.text
    everyone = client.get("/api/v1/admin/api-keys").json()["api_keys"]
    assert {k["name"] for k in everyone} >= {"nightly", "ops", "e2e-admin"}
    kays = client.get("/api/v1/admin/api-keys", params={"owner_id": user_id}).json()["api_keys"]
    assert {k["name"] for k in kays} == {"nightly", "ops"}
    # another analyst may not revoke kay's key; the admin may
    make_user(client, container, "eve", Role.ANALYST)
    eve = bearer(login(anonymous_client, "eve")["access_token"])
    assert (
        anonymous_client.delete(f"/api/v1/api-keys/{key['key']['id']}", headers=eve).status_code
        == 403
    )
    assert client.delete(f"/api/v1/admin/api-keys/{key['key']['id']}").status_code == 204
    assert (
        anonymous_client.get("/api/v1/series", headers={"X-API-Key": key["secret"]}).status_code
        == 401
    )


# --- the audit log --------------------------------------------------------------------------


def test_the_audit_log_records_state_changing_requests(
    client: TestClient, anonymous_client: AnonymousClient, container: Container
) -> None:
    me = client.get("/api/v1/auth/me").json()
    assert client.post("/api/v1/bars", json=upload_body()).status_code == 200
    viewer_id = make_user(client, container, "vic", Role.VIEWER)
    viewer = bearer(login(anonymous_client, "vic")["access_token"])
    assert (
        anonymous_client.post("/api/v1/bars", headers=viewer, json=upload_body()).status_code == 403
    )
    assert anonymous_client.post("/api/v1/bars", json=upload_body()).status_code == 401
    assert anonymous_client.get("/api/v1/audit", headers=viewer).status_code == 403

    uploads = audit(client, action="api.upload_bars")
    assert [(e["actor"], e["outcome"]) for e in uploads] == [
        ("anonymous", "denied"),
        (f"user:{viewer_id}", "denied"),
        (f"api_key:{me['api_key_id']}", "success"),
    ]
    for entry in uploads:
        assert entry["target"] == "/api/v1/bars"
        assert entry["client_address"] == "testclient"
        assert entry["detail"].startswith("POST /api/v1/bars -> ")
    # auth events come from the use cases, once each (not doubled by the HTTP hook)
    logins = audit(client, action="auth.login", outcome="success")
    assert len(logins) == 1
    assert audit(client, action="users")[0]["action"] == "users.create"
    # reads are not recorded; paging works
    assert not [e for e in audit(client, limit=1000) if e["action"] == "api.list_series"]
    page = client.get("/api/v1/audit", params={"limit": 2}).json()
    older = client.get("/api/v1/audit", params={"limit": 2, "before_seq": page["next_before_seq"]})
    assert all(e["seq"] < page["entries"][-1]["seq"] for e in older.json()["entries"])
    bad = client.get("/api/v1/audit", params={"outcome": "maybe"})
    assert (bad.status_code, bad.json()["field"]) == (422, "outcome")


def test_the_audit_log_is_append_only_through_the_api(client: TestClient) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert client.request(method, "/api/v1/audit").status_code == 405
