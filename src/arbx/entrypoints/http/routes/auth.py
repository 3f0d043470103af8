"""Sign-in, sessions, the caller's own account and own API keys."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from litestar import delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from arbx.app.authenticate import Authenticate
from arbx.app.logout import Logout
from arbx.app.manage_api_keys import (
    DEFAULT_LIFETIME,
    CreateApiKey,
    ListApiKeys,
    NewApiKey,
    RevokeApiKey,
)
from arbx.app.manage_users import ChangeOwnPassword
from arbx.app.refresh_session import RefreshSession
from arbx.domain.auth import ApiKey, Permission, Principal, TokenPair
from arbx.entrypoints.http.security import (
    AUDIT_ACTION,
    SELF_AUDITED,
    authenticated,
    public,
    requires,
)
from arbx.entrypoints.schemas.api_keys import lifetime, roles_of

AUDITED = {SELF_AUDITED: True}


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str


class RefreshIn(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: str


class TokensOut(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime

    @classmethod
    def of(cls, pair: TokenPair, now: datetime) -> TokensOut:
        return cls(
            access_token=pair.access_token,
            token_type=pair.token_type,
            expires_in=max(0, int((pair.access_expires_at - now).total_seconds())),
            access_expires_at=pair.access_expires_at,
            refresh_token=pair.refresh_token,
            refresh_expires_at=pair.refresh_expires_at,
        )


class MeOut(msgspec.Struct):
    user_id: str
    username: str
    kind: str
    roles: list[str]
    permissions: list[str]
    api_key_id: str | None


class LogoutAllOut(msgspec.Struct):
    revoked: int


class PasswordIn(msgspec.Struct, forbid_unknown_fields=True):
    current_password: str
    new_password: str


class ApiKeyIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    roles: list[str] | None = None
    expires_in_days: int = DEFAULT_LIFETIME.days


class ApiKeyOut(msgspec.Struct):
    id: str
    name: str
    owner_id: str
    prefix: str
    roles: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            name=key.name,
            owner_id=key.owner_id,
            prefix=key.prefix,
            roles=sorted(role.value for role in key.roles),
            created_at=key.created_at,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreated(msgspec.Struct):
    """``secret`` is the whole key; it is shown now and never again."""

    key: ApiKeyOut
    secret: str


class ApiKeyList(msgspec.Struct):
    api_keys: list[ApiKeyOut]


def created(new: NewApiKey) -> ApiKeyCreated:
    return ApiKeyCreated(key=ApiKeyOut.of(new.key), secret=new.secret)


def _now() -> datetime:
    return datetime.now(UTC)


@post(
    "/auth/login",
    summary="Sign in with username and password: an access token and a refresh token",
    guards=[public("auth")],
    opt={**AUDITED, AUDIT_ACTION: "auth.login"},  # the name a rate-limit refusal is audited by
    status_code=200,
    security=[],
)
async def login(
    data: JSONBody[LoginIn],
    authenticate: NamedDependency[Authenticate],
    client_address: NamedDependency[str | None],
) -> TokensOut:
    pair = await authenticate.execute(data.username, data.password, client_address=client_address)
    return TokensOut.of(pair, _now())


@post(
    "/auth/refresh",
    summary="Exchange a refresh token for a new pair (the old one is consumed)",
    guards=[public("auth")],
    opt=AUDITED,
    status_code=200,
    security=[],
)
async def refresh(
    data: JSONBody[RefreshIn],
    refresh_session: NamedDependency[RefreshSession],
    client_address: NamedDependency[str | None],
) -> TokensOut:
    pair = await refresh_session.execute(data.refresh_token, client_address=client_address)
    return TokensOut.of(pair, _now())


@post(
    "/auth/logout",
    summary="End the session of a refresh token (idempotent)",
    guards=[public("auth")],
    opt=AUDITED,
    status_code=204,
    security=[],
)
async def logout(
    data: JSONBody[RefreshIn],
    logout: NamedDependency[Logout],
    client_address: NamedDependency[str | None],
) -> None:
    await logout.execute(data.refresh_token, client_address=client_address)


@post(
    "/auth/logout-all",
    summary="End every session of the caller's user",
    guards=[authenticated()],
    opt=AUDITED,
    status_code=200,
)
async def logout_all(
    logout: NamedDependency[Logout],
    principal: NamedDependency[Principal],
    client_address: NamedDependency[str | None],
) -> LogoutAllOut:
    return LogoutAllOut(await logout.everywhere(principal, client_address=client_address))


@get(
    "/auth/me",
    summary="Who the caller is and what they may do",
    guards=[authenticated()],
)
async def me(principal: NamedDependency[Principal]) -> MeOut:
    return MeOut(
        user_id=principal.user_id,
        username=principal.username,
        kind=principal.kind.value,
        roles=sorted(role.value for role in principal.roles),
        permissions=sorted(p.value for p in principal.permissions),
        api_key_id=principal.api_key_id,
    )


@post(
    "/auth/password",
    summary="Change the caller's password (ends every session: sign in again)",
    guards=[authenticated()],
    opt=AUDITED,
    status_code=204,
)
async def change_password(
    data: JSONBody[PasswordIn],
    change_own_password: NamedDependency[ChangeOwnPassword],
    principal: NamedDependency[Principal],
    client_address: NamedDependency[str | None],
) -> None:
    await change_own_password.execute(
        principal, data.current_password, data.new_password, client_address=client_address
    )


@get(
    "/api-keys",
    summary="The caller's API keys (revoked and expired ones included)",
    guards=[requires(Permission.API_KEYS_WRITE)],
)
async def list_own_api_keys(
    list_api_keys: NamedDependency[ListApiKeys], principal: NamedDependency[Principal]
) -> ApiKeyList:
    keys = await list_api_keys.execute(principal)
    return ApiKeyList([ApiKeyOut.of(key) for key in keys])


@post(
    "/api-keys",
    summary="Create an API key for the caller; the secret is in this response only",
    guards=[requires(Permission.API_KEYS_WRITE)],
    opt=AUDITED,
    status_code=201,
)
async def create_own_api_key(
    data: JSONBody[ApiKeyIn],
    create_api_key: NamedDependency[CreateApiKey],
    principal: NamedDependency[Principal],
    client_address: NamedDependency[str | None],
) -> ApiKeyCreated:
    new = await create_api_key.execute(
        principal,
        name=data.name,
        roles=roles_of(data.roles),
        expires_in=lifetime(data.expires_in_days),
        client_address=client_address,
    )
    return created(new)


@delete(
    "/api-keys/{key_id:str}",
    summary="Revoke one of the caller's API keys",
    guards=[requires(Permission.API_KEYS_WRITE)],
    opt=AUDITED,
    status_code=204,
)
async def revoke_own_api_key(
    key_id: FromPath[str],
    revoke_api_key: NamedDependency[RevokeApiKey],
    principal: NamedDependency[Principal],
    client_address: NamedDependency[str | None],
) -> None:
    await revoke_api_key.execute(principal, key_id, client_address=client_address)


ROUTES = [
    login,
    refresh,
    logout,
    logout_all,
    me,
    change_password,
    list_own_api_keys,
    create_own_api_key,
    revoke_own_api_key,
]
__all__ = ["ROUTES", "ApiKeyCreated", "ApiKeyList", "ApiKeyOut"]
