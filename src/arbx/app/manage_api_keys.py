"""API keys: create (the secret is returned once), list, revoke.

Users manage their own keys with ``api_keys:write``; admins anybody's (``api_keys:write_any``).
A key's roles must be roles its owner holds; a key cannot mint keys (sign in as the user).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec

from arbx.app.authenticate import new_id
from arbx.app.authorize import AuditTrail
from arbx.domain.auth import (
    ApiKey,
    AuditOutcome,
    Permission,
    Principal,
    PrincipalKind,
    Resource,
    Role,
    api_key_prefix,
    check_key_name,
    decide,
    permissions_of,
)
from arbx.domain.errors import Conflict, Forbidden, InvalidInput
from arbx.ports.api_key_store import ApiKeyStore
from arbx.ports.clock import Clock
from arbx.ports.token_service import SecretService
from arbx.ports.user_store import UserStore

DEFAULT_LIFETIME = timedelta(days=90)
MAX_LIFETIME = timedelta(days=365)


class NewApiKey(msgspec.Struct, frozen=True):
    """The stored key and its plain text, which is shown now and can never be shown again."""

    key: ApiKey
    secret: str


async def _check(
    audit: AuditTrail,
    actor: Principal,
    action: str,
    owner_id: str,
    target: str | None,
    client: str | None,
) -> None:
    decision = decide(actor, Permission.API_KEYS_WRITE, Resource(owner_id=owner_id))
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


class CreateApiKey:
    def __init__(
        self,
        *,
        api_keys: ApiKeyStore,
        users: UserStore,
        secrets: SecretService,
        audit: AuditTrail,
        clock: Clock,
        max_lifetime: timedelta = MAX_LIFETIME,
        new_id: Callable[[], str] = new_id,
    ) -> None:
        self._api_keys = api_keys
        self._users = users
        self._secrets = secrets
        self._audit = audit
        self._clock = clock
        self._max_lifetime = max_lifetime
        self._new_id = new_id

    async def execute(
        self,
        actor: Principal,
        *,
        name: str,
        roles: frozenset[Role] | None = None,
        expires_in: timedelta = DEFAULT_LIFETIME,
        owner_id: str | None = None,
        client_address: str | None = None,
    ) -> NewApiKey:
        """``roles`` default to all the owner's roles; ``owner_id`` defaults to the actor."""
        owner_id = owner_id or actor.user_id
        await _check(self._audit, actor, "api_keys.create", owner_id, None, client_address)
        if actor.kind is PrincipalKind.API_KEY:
            raise Forbidden("an API key cannot create API keys; sign in as the user")
        label = check_key_name(name)
        if not timedelta(minutes=1) <= expires_in <= self._max_lifetime:
            raise InvalidInput(
                f"expires_in must be between 1 minute and {self._max_lifetime.days} days",
                field="expires_in",
            )
        owner = await self._users.get(owner_id)
        chosen = owner.roles if roles is None else frozenset(roles)
        if not chosen:
            raise InvalidInput("an api key needs at least one role", field="roles")
        if not permissions_of(chosen) <= permissions_of(owner.roles):
            extra = ",".join(sorted(r.value for r in chosen))
            raise InvalidInput(
                f"an api key may only carry roles within its owner's; {owner.username!r} does"
                f" not hold everything {extra} grants",
                field="roles",
            )
        now = self._clock.now()
        for _ in range(3):  # a prefix collision (48 random bits) is rare; retry a few times
            secret = self._secrets.new_api_key()
            prefix = api_key_prefix(secret)
            assert prefix is not None
            key = ApiKey(
                id=self._new_id(),
                name=label,
                owner_id=owner.id,
                prefix=prefix,
                secret_hash=self._secrets.digest(secret),
                roles=chosen,
                created_at=now,
                expires_at=now + expires_in,
            )
            try:
                await self._api_keys.add(key)
            except Conflict:
                continue
            await self._audit.record(
                actor.actor,
                "api_keys.create",
                AuditOutcome.SUCCESS,
                target=f"api_key:{key.id}",
                client_address=client_address,
                detail=f"owner=user:{owner.id} prefix={prefix} expires={_iso(key.expires_at)}",
            )
            return NewApiKey(key=key, secret=secret)
        raise Conflict("could not allocate a unique api key prefix; try again")


class ListApiKeys:
    """Keys of one owner (default: the actor); admins may list everybody's (owner None)."""

    def __init__(self, *, api_keys: ApiKeyStore, audit: AuditTrail) -> None:
        self._api_keys = api_keys
        self._audit = audit

    async def execute(
        self, actor: Principal, *, owner_id: str | None = None, all_owners: bool = False
    ) -> list[ApiKey]:
        if all_owners:
            if not actor.has(Permission.API_KEYS_WRITE_ANY):
                raise Forbidden(
                    f"not allowed: permission {Permission.API_KEYS_WRITE_ANY.value!r} is required"
                )
            return await self._api_keys.list()
        owner = owner_id or actor.user_id
        await _check(self._audit, actor, "api_keys.list", owner, f"user:{owner}", None)
        return await self._api_keys.list(owner)


class RevokeApiKey:
    def __init__(self, *, api_keys: ApiKeyStore, audit: AuditTrail, clock: Clock) -> None:
        self._api_keys = api_keys
        self._audit = audit
        self._clock = clock

    async def execute(
        self, actor: Principal, key_id: str, *, client_address: str | None = None
    ) -> ApiKey:
        key = await self._api_keys.get(key_id)
        target = f"api_key:{key_id}"
        await _check(self._audit, actor, "api_keys.revoke", key.owner_id, target, client_address)
        revoked = await self._api_keys.revoke(key_id, self._clock.now())
        await self._audit.record(
            actor.actor,
            "api_keys.revoke",
            AuditOutcome.SUCCESS,
            target=target,
            client_address=client_address,
        )
        return revoked


def _iso(moment: datetime | None) -> str:
    return "never" if moment is None else moment.isoformat()
