"""The admin API: users, roles, everybody's API keys. Each use case checks and audits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from arbx.app.manage_api_keys import CreateApiKey, ListApiKeys, RevokeApiKey
from arbx.app.manage_users import (
    AssignRoles,
    CreateUser,
    ListUsers,
    ResetPassword,
    SetUserState,
)
from arbx.domain.auth import ROLE_PERMISSIONS, Permission, Principal, Role, User, UserState
from arbx.entrypoints.http.routes.auth import (
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOut,
    created,
)
from arbx.entrypoints.http.security import SELF_AUDITED, requires
from arbx.entrypoints.schemas.api_keys import lifetime, roles_of

AUDITED = {SELF_AUDITED: True}
USERS = requires(Permission.USERS_MANAGE, group="admin")
KEYS = requires(Permission.API_KEYS_WRITE_ANY, group="admin")


class UserOut(msgspec.Struct):
    id: str
    username: str
    roles: list[str]
    state: str
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            roles=sorted(role.value for role in user.roles),
            state=user.state.value,
            created_at=user.created_at,
        )


class UserList(msgspec.Struct):
    users: list[UserOut]


class UserIn(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str
    roles: list[str]


class RolesIn(msgspec.Struct, forbid_unknown_fields=True):
    roles: list[str]


class NewPasswordIn(msgspec.Struct, forbid_unknown_fields=True):
    new_password: str


class RoleOut(msgspec.Struct):
    role: str
    permissions: list[str]


class RoleList(msgspec.Struct):
    roles: list[RoleOut]


class AdminApiKeyIn(msgspec.Struct, forbid_unknown_fields=True):
    owner_id: str
    name: str
    roles: list[str] | None = None
    expires_in_days: int = 90


@get("/users", summary="Every user", guards=[USERS])
async def list_users(
    list_users: NamedDependency[ListUsers], principal: NamedDependency[Principal]
) -> UserList:
    return UserList([UserOut.of(user) for user in await list_users.execute(principal)])


@post(
    "/users",
    summary="Create a user with a password and roles",
    guards=[USERS],
    opt=AUDITED,
    status_code=201,
)
async def create_user(
    data: JSONBody[UserIn],
    create_user: NamedDependency[CreateUser],
    principal: NamedDependency[Principal],
    client_address: NamedDependency[str | None],
) -> UserOut:
    user = await create_user.execute(
        principal,
        username=data.username,
        password=data.password,
        roles=Role.parse_many(data.roles),
        client_address=client_address,
    )
    return UserOut.of(user)


@get("/users/{user_id:str}", summary="One user", guards=[USERS])
async def get_user(
    user_id: FromPath[str],
    list_users: NamedDependency[ListUsers],
    principal: NamedDependency[Principal],
) -> UserOut:
    return UserOut.of(await list_users.get(principal, user_id))


async def _set_state(
    use_case: SetUserState,
    principal: Principal,
    user_id: str,
    state: UserState,
    address: str | None,
) -> UserOut:
    return UserOut.of(await use_case.execute(principal, user_id, state, client_address=address))


@post(
    "/users/{user_id:str}/disable",
    summary="Disable a user (their sessions end; their API keys stop working)",
    guards=[USERS],
    opt=AUDITED,
    status_code=200,
)
async def disable_user(
    user_id: FromPath[str],
    set_user_state: NamedDependency[SetUserState],
    principal: NamedDependency[Principal],
    client_address: NamedDependency[str | None],
) -> UserOut:
    return await _set_state(set_user_state, principal, user_id, UserState.DISABLED, client_address)


@post(
    "/users/{user_id:str}/enable",
    summary="Enable a disabled user",
    guards=[USERS],
    opt=AUDITED,
    status_code=200,
)
async def enable_user(
    user_id: FromPath[str],
    set_user_state: NamedDependency[SetUserState],
    principal: NamedDependency[Principal],
    client_address: NamedDependency[str | None],
) -> UserOut:
    return await _set_state(set_user_state, principal, user_id, UserState.ACTIVE, client_address)


@post(
    "/users/{user_id:str}/reset-password",
    summary="Set a new password for a user (their sessions end)",
    guards=[USERS],
    opt=AUDITED,
    status_code=204,
)
async def reset_password(
    user_id: FromPath[str],
    data: JSONBody[NewPasswordIn],
    reset_password: NamedDependency[ResetPassword],
    principal: NamedDependency[Principal],
    client_address: NamedDependency[str | None],
) -> None:
    await reset_password.execute(
        principal, user_id, data.new_password, client_address=client_address
    )


@put(
    "/users/{user_id:str}/roles",
    summary="Replace a user's roles",
    guards=[USERS],
    opt=AUDITED,
)
async def assign_roles(
    user_id: FromPath[str],
    data: JSONBody[RolesIn],
    assign_roles: NamedDependency[AssignRoles],
    principal: NamedDependency[Principal],
    client_address: NamedDependency[str | None],
) -> UserOut:
    roles = Role.parse_many(data.roles)
    user = await assign_roles.execute(principal, user_id, roles, client_address=client_address)
    return UserOut.of(user)


@get(
    "/roles",
    summary="The roles and the permissions each grants",
    guards=[USERS],
)
async def list_roles() -> RoleList:
    return RoleList(
        [RoleOut(role.value, sorted(p.value for p in ROLE_PERMISSIONS[role])) for role in Role]
    )


@get(
    "/api-keys",
    summary="Every API key, or one owner's",
    guards=[KEYS],
)
async def list_all_api_keys(
    list_api_keys: NamedDependency[ListApiKeys],
    principal: NamedDependency[Principal],
    owner_id: Annotated[str | None, QueryParameter(description="only this user's keys")] = None,
) -> ApiKeyList:
    if owner_id:
        keys = await list_api_keys.execute(principal, owner_id=owner_id)
    else:
        keys = await list_api_keys.execute(principal, all_owners=True)
    return ApiKeyList([ApiKeyOut.of(key) for key in keys])


@post(
    "/api-keys",
    summary="Create an API key for a user; the secret is in this response only",
    guards=[KEYS],
    opt=AUDITED,
    status_code=201,
)
async def create_api_key_for(
    data: JSONBody[AdminApiKeyIn],
    create_api_key: NamedDependency[CreateApiKey],
    principal: NamedDependency[Principal],
    client_address: NamedDependency[str | None],
) -> ApiKeyCreated:
    new = await create_api_key.execute(
        principal,
        name=data.name,
        roles=roles_of(data.roles),
        expires_in=lifetime(data.expires_in_days),
        owner_id=data.owner_id,
        client_address=client_address,
    )
    return created(new)


@delete(
    "/api-keys/{key_id:str}",
    summary="Revoke anybody's API key",
    guards=[KEYS],
    opt=AUDITED,
    status_code=204,
)
async def revoke_any_api_key(
    key_id: FromPath[str],
    revoke_api_key: NamedDependency[RevokeApiKey],
    principal: NamedDependency[Principal],
    client_address: NamedDependency[str | None],
) -> None:
    await revoke_api_key.execute(principal, key_id, client_address=client_address)


ROUTES = [
    list_users,
    create_user,
    get_user,
    disable_user,
    enable_user,
    reset_password,
    assign_roles,
    list_roles,
    list_all_api_keys,
    create_api_key_for,
    revoke_any_api_key,
]
