"""Every route of the app x every role, anonymous and broken credentials -> the status its
declared access implies. Routes are enumerated from the app, so new routes are covered (and a
route that declares no access fails here)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from arbx.adapters.security.tokens import JwtTokenService, SigningKey
from arbx.domain.auth import ROLE_PERMISSIONS, Permission, Principal, PrincipalKind, Role
from arbx.entrypoints.container import Container, resolve
from arbx.entrypoints.http.security import Access, declared_access
from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, AnonymousClient

PASSWORD = "matrix passphrase 2024"
UNDECLARED_OK = re.compile(r"^/schema(/|$)")  # Litestar's own OpenAPI pages: public
DENIED = {401, 403}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # with path parameters filled in
    access: Access

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def endpoints(app: Litestar) -> list[Endpoint]:
    """Every (method, route) the app serves, with its declared access; fails for a route that
    declares none (except Litestar's /schema pages)."""
    found: list[Endpoint] = []
    undeclared: list[str] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = re.sub(r"\{[^}:]+(:[^}]+)?\}", "no-such-id", route.path)
        for handler in route.route_handlers:
            methods = sorted(set(handler.http_methods) - {"OPTIONS", "HEAD"})
            if not methods:
                continue
            access = declared_access(handler)
            if access is None:
                if not UNDECLARED_OK.match(route.path):
                    undeclared.append(f"{methods} {route.path} ({handler.handler_name})")
                continue
            found.extend(Endpoint(method, path, access) for method in methods)
    assert not undeclared, (
        "routes without a declared access; add guards=[requires(Permission.X)] (or"
        f" authenticated() / public()) from arbx.entrypoints.http.security: {undeclared}"
    )
    return found


def call(client: AnonymousClient, endpoint: Endpoint, headers: dict[str, str]) -> int:
    body: dict[str, Any] | None = {} if endpoint.method in ("POST", "PUT", "PATCH") else None
    response = client.request(endpoint.method, endpoint.path, headers=headers, json=body)
    return response.status_code


async def _create_user(container: Container, username: str, role: Role) -> str:
    users = await resolve(container.user_store)
    admin = await users.find_by_username(ADMIN_USERNAME)
    actor = Principal(
        kind=PrincipalKind.USER, user_id=admin.id, username=admin.username, roles=admin.roles
    )
    create = await resolve(container.create_user)
    user = await create.execute(actor, username=username, password=PASSWORD, roles={role})
    return str(user.id)


def make_user(client: TestClient, container: Container, username: str, role: Role) -> str:
    return str(client.blocking_portal.call(_create_user, container, username, role))


def login(client: AnonymousClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expected_denial(access: Access, role: Role | None) -> int | None:
    """401/403 when the route must refuse, None when it must let the caller through."""
    if not access.authenticated:
        return None
    if role is None:
        return 401
    if access.permission is None:
        return None
    return None if access.permission in ROLE_PERMISSIONS[role] else 403


def check_matrix(
    client: AnonymousClient, points: list[Endpoint], role: Role | None, headers: dict[str, str]
) -> list[str]:
    wrong = []
    # a call that ends the caller's sessions (logout-all) goes last: after it the caller's
    # access token is rightly refused everywhere (issue 12)
    ending = ("/api/v1/auth/logout-all",)
    for point in sorted(points, key=lambda p: p.path in ending):
        status = call(client, point, headers)
        denial = expected_denial(point.access, role)
        if denial is not None and status != denial:
            wrong.append(f"{point.name}: {status}, expected {denial} ({point.access})")
        if denial is None and status in DENIED:
            wrong.append(f"{point.name}: {status}, expected access ({point.access})")
    return wrong


def test_every_api_route_declares_its_access(client: TestClient) -> None:
    points = endpoints(client.app)
    paths = {p.path for p in points}
    assert {"/api/v1/bars", "/api/v1/series", "/api/v1/audit", "/health"} <= paths
    assert all(p.access.authenticated for p in points if p.path.startswith("/api/v1/admin"))


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_role_matrix_with_access_tokens(
    client: TestClient, anonymous_client: AnonymousClient, container: Container, role: Role
) -> None:
    make_user(client, container, f"user-{role.value}", role)
    token = login(anonymous_client, f"user-{role.value}")["access_token"]
    wrong = check_matrix(anonymous_client, endpoints(client.app), role, bearer(token))
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR], ids=lambda r: r.value)
def test_role_matrix_with_api_keys(
    client: TestClient, anonymous_client: AnonymousClient, container: Container, role: Role
) -> None:
    """An admin's key limited to ``role`` acts with that role only (scopes never widen)."""
    admin = bearer(login(anonymous_client, ADMIN_USERNAME, ADMIN_PASSWORD)["access_token"])
    response = anonymous_client.post(
        "/api/v1/api-keys", headers=admin, json={"name": "narrow", "roles": [role.value]}
    )
    assert response.status_code == 201, response.text
    key = response.json()["secret"]
    wrong = check_matrix(anonymous_client, endpoints(client.app), role, {"X-API-Key": key})
    assert not wrong, "\n".join(wrong)


def test_anonymous_matrix(client: TestClient, anonymous_client: AnonymousClient) -> None:
    wrong = check_matrix(anonymous_client, endpoints(client.app), None, {})
    assert not wrong, "\n".join(wrong)


def _claims(user_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "user_id": user_id,
        "username": "user-admin",
        "roles": frozenset({Role.ADMIN}),
        "session_id": "s1",
        "token_id": "t1",
        "issued_at": now,
        "expires_at": now + timedelta(minutes=5),
    }


def broken_credentials(client: TestClient, container: Container) -> dict[str, dict[str, str]]:
    """Credentials of an ADMIN that must all be refused."""
    user_id = make_user(client, container, "user-admin", Role.ADMIN)
    anonymous = AnonymousClient(client)
    good = login(anonymous, "user-admin")["access_token"]
    secrets = container.auth_secrets()
    keys = [SigningKey(k.kid, k.secret) for k in secrets.signing_keys]
    settings = container.settings().auth
    clock = container.clock()

    def service(**changes: Any) -> JwtTokenService:
        options: dict[str, Any] = {
            "issuer": settings.issuer,
            "audience": settings.audience,
            "keys": keys,
            "clock": clock,
        }
        return JwtTokenService(**{**options, **changes})

    past = datetime.now(UTC) - timedelta(hours=2)
    expired = service().issue(
        **{**_claims(user_id), "issued_at": past, "expires_at": past + timedelta(minutes=15)}
    )
    other_audience = service(audience="somebody-else").issue(**_claims(user_id))
    other_issuer = service(issuer="evil").issue(**_claims(user_id))
    unknown_key = service(keys=[SigningKey("rogue", "r" * 48)]).issue(**_claims(user_id))
    header, payload, signature = good.split(".")
    tampered_sig = (
        f"{header}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    )
    claims = jwt.decode(good, options={"verify_signature": False})
    claims["roles"] = ["admin"]
    claims["sub"] = user_id
    alg_none = jwt.encode(claims, None, algorithm="none", headers={"kid": keys[0].kid})
    forged_payload = jwt.encode({**claims, "name": "x"}, "k" * 48, algorithm="HS256").split(".")[1]
    swapped_payload = f"{header}.{forged_payload}.{signature}"
    own = bearer(good)
    revoked = anonymous.post("/api/v1/api-keys", headers=own, json={"name": "to-revoke"}).json()
    gone = anonymous.delete(f"/api/v1/api-keys/{revoked['key']['id']}", headers=own)
    assert gone.status_code == 204
    prefix = revoked["secret"].split("_")[1]
    return {
        "expired token": bearer(expired),
        "wrong audience": bearer(other_audience),
        "wrong issuer": bearer(other_issuer),
        "unknown signing key": bearer(unknown_key),
        "tampered signature": bearer(tampered_sig),
        "tampered payload": bearer(swapped_payload),
        "alg none": bearer(alg_none),
        "garbage token": bearer("not-a-jwt"),
        "basic auth scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
        "revoked api key": {"X-API-Key": revoked["secret"]},
        "revoked api key as bearer": bearer(revoked["secret"]),
        "wrong api key secret": {"X-API-Key": f"arbx_{prefix}_{'x' * 43}"},
        "malformed api key": {"X-API-Key": "arbx_nothex_short"},
    }


def test_broken_credentials_are_refused_everywhere(
    client: TestClient, anonymous_client: AnonymousClient, container: Container
) -> None:
    points = [p for p in endpoints(client.app) if p.access.authenticated]
    wrong: list[str] = []
    for label, headers in broken_credentials(client, container).items():
        for point in points:
            status = call(anonymous_client, point, headers)
            if status != 401:
                wrong.append(f"{label}: {point.name} -> {status}, expected 401")
    assert not wrong, "\n".join(wrong)


def test_disabled_users_tokens_and_keys_stop_working(
    client: TestClient, anonymous_client: AnonymousClient, container: Container
) -> None:
    user_id = make_user(client, container, "soon-gone", Role.ANALYST)
    token = login(anonymous_client, "soon-gone")["access_token"]
    key = anonymous_client.post(
        "/api/v1/api-keys", headers=bearer(token), json={"name": "script"}
    ).json()["secret"]
    assert anonymous_client.get("/api/v1/series", headers={"X-API-Key": key}).status_code == 200
    assert client.post(f"/api/v1/admin/users/{user_id}/disable").status_code == 200
    for headers in (bearer(token), {"X-API-Key": key}):
        response = anonymous_client.get("/api/v1/series", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post(f"/api/v1/admin/users/{user_id}/enable").status_code == 200
    # disabling ended the user's sessions: re-enabling does not revive the old access token
    # (issue 12), while the API key (no session) works again
    assert anonymous_client.get("/api/v1/series", headers=bearer(token)).status_code == 401
    assert anonymous_client.get("/api/v1/series", headers={"X-API-Key": key}).status_code == 200
    fresh = login(anonymous_client, "soon-gone")["access_token"]
    assert anonymous_client.get("/api/v1/series", headers=bearer(fresh)).status_code == 200


def test_admin_can_sign_in_with_the_bootstrap_password(anonymous_client: AnonymousClient) -> None:
    body = login(anonymous_client, ADMIN_USERNAME, ADMIN_PASSWORD)
    me = anonymous_client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
    assert me.json()["roles"] == ["admin"]
    assert Permission.AUDIT_READ.value in me.json()["permissions"]
