"""Admin use cases on accounts: create, bootstrap the first admin, disable/enable, reset a
password, assign roles, list. Each checks ``users:manage`` and writes the audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from arbx.app.authenticate import new_id
from arbx.app.authorize import AuditTrail
from arbx.domain.auth import (
    AuditOutcome,
    Permission,
    Principal,
    PrincipalKind,
    Role,
    User,
    UserState,
    check_password,
    decide,
    normalize_username,
)
from arbx.domain.errors import Conflict, Forbidden, InvalidInput, Unauthenticated
from arbx.ports.clock import Clock
from arbx.ports.password_hasher import PasswordHasher
from arbx.ports.refresh_token_store import RefreshTokenStore
from arbx.ports.user_store import UserStore


async def _require_admin(
    audit: AuditTrail, actor: Principal, action: str, target: str | None, client: str | None
) -> None:
    decision = decide(actor, Permission.USERS_MANAGE)
    if not decision.allowed:
        await audit.record(
            actor.actor,
            action,
            AuditOutcome.DENIED,
            target=target,
            client_address=client,
            detail=decision.reason,
        )
        raise Forbidden(f"not allowed: {decision.reason}")


def _check_roles(roles: frozenset[Role]) -> frozenset[Role]:
    if not roles:
        raise InvalidInput("a user needs at least one role, e.g. 'viewer'", field="roles")
    return frozenset(roles)


class CreateUser:
    def __init__(
        self,
        *,
        users: UserStore,
        hasher: PasswordHasher,
        audit: AuditTrail,
        clock: Clock,
        new_id: Callable[[], str] = new_id,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._audit = audit
        self._clock = clock
        self._new_id = new_id

    async def execute(
        self,
        actor: Principal,
        *,
        username: str,
        password: str,
        roles: frozenset[Role],
        client_address: str | None = None,
    ) -> User:
        await _require_admin(self._audit, actor, "users.create", None, client_address)
        user = await self._new_user(username, password, roles, self._clock.now())
        await self._users.add(user, await self._hasher.hash(password))
        await self._audit.record(
            actor.actor,
            "users.create",
            AuditOutcome.SUCCESS,
            target=f"user:{user.id}",
            client_address=client_address,
            detail=f"username={user.username} roles={_names(user.roles)}",
        )
        return user

    async def _new_user(
        self, username: str, password: str, roles: frozenset[Role], now: datetime
    ) -> User:
        name = normalize_username(username)
        check_password(password, username=name)
        if await self._users.find_by_username(name) is not None:
            raise Conflict(f"username {name!r} is taken; choose another")
        return User(id=self._new_id(), username=name, roles=_check_roles(roles), created_at=now)


class CreateFirstAdmin:
    """Bootstrap: create an admin only while no active admin exists (CLI ``users
    create-admin``). There is no default password anywhere."""

    def __init__(
        self,
        *,
        users: UserStore,
        hasher: PasswordHasher,
        audit: AuditTrail,
        clock: Clock,
        new_id: Callable[[], str] = new_id,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._audit = audit
        self._clock = clock
        self._new_id = new_id

    async def execute(
        self, *, username: str, password: str, client_address: str | None = None
    ) -> User:
        if await self._users.count_active_admins() > 0:
            raise Conflict("an admin exists already; ask them to create your account")
        name = normalize_username(username)
        check_password(password, username=name)
        user = User(
            id=self._new_id(),
            username=name,
            roles=frozenset({Role.ADMIN}),
            created_at=self._clock.now(),
        )
        await self._users.add(user, await self._hasher.hash(password), only_if_no_admin=True)
        await self._audit.record(
            f"user:{user.id}",
            "users.bootstrap_admin",
            AuditOutcome.SUCCESS,
            target=f"user:{user.id}",
            client_address=client_address,
            detail=f"username={user.username}",
        )
        return user


class _AdminOnUser:
    """Shared shape of the use cases that change one existing user."""

    def __init__(
        self,
        *,
        users: UserStore,
        refresh_tokens: RefreshTokenStore,
        audit: AuditTrail,
        clock: Clock,
    ) -> None:
        self._users = users
        self._refresh_tokens = refresh_tokens
        self._audit = audit
        self._clock = clock

    async def _keeps_an_admin(self, before: User, after: User) -> None:
        """Refuse to leave the system without an active admin."""
        was = before.is_active and before.is_admin
        stays = after.is_active and after.is_admin
        if was and not stays and await self._users.count_active_admins() <= 1:
            raise Conflict(
                f"{before.username!r} is the last active admin; make another admin first"
            )


class SetUserState(_AdminOnUser):
    """Disable (also ends the user's sessions) or enable an account."""

    async def execute(
        self,
        actor: Principal,
        user_id: str,
        state: UserState,
        *,
        client_address: str | None = None,
    ) -> User:
        action = "users.disable" if state is UserState.DISABLED else "users.enable"
        target = f"user:{user_id}"
        await _require_admin(self._audit, actor, action, target, client_address)
        before = await self._users.get(user_id)
        after = before.with_state(state)
        await self._keeps_an_admin(before, after)
        await self._users.update(after)
        if state is UserState.DISABLED:
            await self._refresh_tokens.revoke_user(user_id, self._clock.now())
        await self._audit.record(
            actor.actor, action, AuditOutcome.SUCCESS, target=target, client_address=client_address
        )
        return after


class AssignRoles(_AdminOnUser):
    async def execute(
        self,
        actor: Principal,
        user_id: str,
        roles: frozenset[Role],
        *,
        client_address: str | None = None,
    ) -> User:
        target = f"user:{user_id}"
        await _require_admin(self._audit, actor, "users.assign_roles", target, client_address)
        before = await self._users.get(user_id)
        after = before.with_roles(_check_roles(roles))
        await self._keeps_an_admin(before, after)
        await self._users.update(after)
        if after.roles != before.roles:
            # the user's sessions end: tokens issued under the old roles stop working
            await self._refresh_tokens.revoke_user(user_id, self._clock.now())
        await self._audit.record(
            actor.actor,
            "users.assign_roles",
            AuditOutcome.SUCCESS,
            target=target,
            client_address=client_address,
            detail=f"{_names(before.roles)} -> {_names(after.roles)}",
        )
        return after


class ResetPassword(_AdminOnUser):
    """An admin sets a new password; the user's sessions end."""

    def __init__(
        self,
        *,
        users: UserStore,
        refresh_tokens: RefreshTokenStore,
        hasher: PasswordHasher,
        audit: AuditTrail,
        clock: Clock,
    ) -> None:
        super().__init__(users=users, refresh_tokens=refresh_tokens, audit=audit, clock=clock)
        self._hasher = hasher

    async def execute(
        self,
        actor: Principal,
        user_id: str,
        new_password: str,
        *,
        client_address: str | None = None,
    ) -> None:
        target = f"user:{user_id}"
        await _require_admin(self._audit, actor, "users.reset_password", target, client_address)
        user = await self._users.get(user_id)
        check_password(new_password, username=user.username)
        await self._users.set_password_hash(user_id, await self._hasher.hash(new_password))
        await self._refresh_tokens.revoke_user(user_id, self._clock.now())
        await self._audit.record(
            actor.actor,
            "users.reset_password",
            AuditOutcome.SUCCESS,
            target=target,
            client_address=client_address,
        )


class ChangeOwnPassword:
    """A signed-in user replaces their password, proving the current one; every session of
    the user ends (sign in again with the new password)."""

    def __init__(
        self,
        *,
        users: UserStore,
        refresh_tokens: RefreshTokenStore,
        hasher: PasswordHasher,
        audit: AuditTrail,
        clock: Clock,
    ) -> None:
        self._users = users
        self._refresh_tokens = refresh_tokens
        self._hasher = hasher
        self._audit = audit
        self._clock = clock

    async def execute(
        self,
        actor: Principal,
        current_password: str,
        new_password: str,
        *,
        client_address: str | None = None,
    ) -> None:
        if actor.kind is not PrincipalKind.USER:
            raise Forbidden("an API key cannot change its owner's password; sign in")
        user = await self._users.get(actor.user_id)
        credentials = await self._users.credentials(user.username)
        target = f"user:{user.id}"
        if credentials is None or not await self._hasher.verify(
            credentials.password_hash, current_password
        ):
            await self._audit.record(
                actor.actor,
                "users.change_password",
                AuditOutcome.FAILURE,
                target=target,
                client_address=client_address,
                detail="wrong current password",
            )
            raise Unauthenticated("the current password is wrong")
        check_password(new_password, username=user.username)
        if new_password == current_password:
            raise InvalidInput(
                "the new password must differ from the current one", field="new_password"
            )
        await self._users.set_password_hash(user.id, await self._hasher.hash(new_password))
        await self._refresh_tokens.revoke_user(user.id, self._clock.now())
        await self._audit.record(
            actor.actor,
            "users.change_password",
            AuditOutcome.SUCCESS,
            target=target,
            client_address=client_address,
        )


class ListUsers:
    def __init__(self, *, users: UserStore, audit: AuditTrail) -> None:
        self._users = users
        self._audit = audit

    async def execute(self, actor: Principal) -> list[User]:
        await _require_admin(self._audit, actor, "users.list", None, None)
        return await self._users.list()

    async def get(self, actor: Principal, user_id: str) -> User:
        await _require_admin(self._audit, actor, "users.get", f"user:{user_id}", None)
        return await self._users.get(user_id)


def _names(roles: frozenset[Role]) -> str:
    return ",".join(sorted(role.value for role in roles))
