"""Auth use cases with memory stores, real argon2/JWT/HMAC adapters and a fake clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from arbx.adapters.memory.api_key_store import MemoryApiKeyStore
from arbx.adapters.memory.audit_log import MemoryAuditLog
from arbx.adapters.memory.refresh_token_store import MemoryRefreshTokenStore
from arbx.adapters.memory.user_store import MemoryUserStore
from arbx.adapters.security.passwords import Argon2PasswordHasher
from arbx.adapters.security.rate_limit import InMemoryLoginThrottle
from arbx.adapters.security.secrets import HmacSecretService
from arbx.adapters.security.tokens import JwtTokenService, SigningKey
from arbx.app.authenticate import Authenticate, SessionTokens
from arbx.app.authorize import (
    AuditTrail,
    Authorize,
    CacheForgettingSessions,
    PrincipalCache,
    QueryAuditLog,
)
from arbx.app.logout import Logout
from arbx.app.manage_api_keys import CreateApiKey, ListApiKeys, RevokeApiKey
from arbx.app.manage_users import (
    AssignRoles,
    ChangeOwnPassword,
    CreateFirstAdmin,
    CreateUser,
    ListUsers,
    ResetPassword,
    SetUserState,
)
from arbx.app.refresh_session import RefreshSession
from arbx.domain.auth import (
    AuditOutcome,
    AuditQuery,
    Permission,
    Principal,
    PrincipalKind,
    Resource,
    Role,
    SessionPolicy,
    TooManyRequests,
    User,
    UserState,
)
from arbx.domain.auth.limits import FailurePolicy
from arbx.domain.auth.permissions import permissions_of
from arbx.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from tests.unit.auth.fakes import FakeClock

ADMIN_PW = "admin pass phrase 1"
ALICE_PW = "a long secret of hers"
ADDR = "10.0.0.7"


class World:
    """Every auth use case wired on memory stores, as the container will wire them."""

    def __init__(self, hasher: Argon2PasswordHasher | None = None) -> None:
        self.clock = FakeClock()
        self.users = MemoryUserStore()
        self.keys = MemoryApiKeyStore()
        self.refresh_tokens = MemoryRefreshTokenStore()
        # as in the container: revocations go through a wrapper that tells the principal cache
        self.principal_cache = PrincipalCache()
        self.session_store = CacheForgettingSessions(self.refresh_tokens, self.principal_cache)
        self.audit_log = MemoryAuditLog()
        self.hasher = hasher or Argon2PasswordHasher(
            time_cost=1, memory_cost_kib=1024, parallelism=1
        )
        self.jwt = JwtTokenService(
            issuer="arbx", audience="arbx-api", keys=[SigningKey("k1", "k" * 40)], clock=self.clock
        )
        self.secrets = HmacSecretService(hash_key="h" * 40)
        self.throttle = InMemoryLoginThrottle(
            clock=self.clock,
            per_username=FailurePolicy(
                free=3,
                base_delay=timedelta(seconds=1),
                max_delay=timedelta(minutes=5),
                forget_after=timedelta(minutes=30),
            ),
        )
        audit = AuditTrail(self.audit_log, self.clock)
        self.sessions = SessionTokens(
            tokens=self.jwt,
            secrets=self.secrets,
            refresh_tokens=self.session_store,
            policy=SessionPolicy(
                access_ttl=timedelta(minutes=10),
                refresh_ttl=timedelta(days=1),
                max_session_age=timedelta(days=3),
            ),
        )
        self.login = Authenticate(
            users=self.users,
            hasher=self.hasher,
            sessions=self.sessions,
            throttle=self.throttle,
            audit=audit,
            clock=self.clock,
        )
        self.refresh = RefreshSession(
            users=self.users, sessions=self.sessions, audit=audit, clock=self.clock
        )
        self.logout = Logout(
            refresh_tokens=self.session_store,
            secrets=self.secrets,
            audit=audit,
            clock=self.clock,
        )
        self.authorize = Authorize(
            users=self.users,
            api_keys=self.keys,
            sessions=self.session_store,
            tokens=self.jwt,
            secrets=self.secrets,
            clock=self.clock,
            cache=self.principal_cache,
        )
        self.bootstrap = CreateFirstAdmin(
            users=self.users, hasher=self.hasher, audit=audit, clock=self.clock
        )
        self.create_user = CreateUser(
            users=self.users, hasher=self.hasher, audit=audit, clock=self.clock
        )
        on_user = {
            "users": self.users,
            "refresh_tokens": self.session_store,
            "audit": audit,
            "clock": self.clock,
        }
        self.set_state = SetUserState(**on_user)  # type: ignore[arg-type]
        self.assign_roles = AssignRoles(**on_user)  # type: ignore[arg-type]
        self.reset_password = ResetPassword(hasher=self.hasher, **on_user)  # type: ignore[arg-type]
        self.list_users = ListUsers(users=self.users, audit=audit)
        self.change_password = ChangeOwnPassword(hasher=self.hasher, **on_user)  # type: ignore[arg-type]
        self.read_audit = QueryAuditLog(self.audit_log)
        self.create_key = CreateApiKey(
            api_keys=self.keys,
            users=self.users,
            secrets=self.secrets,
            audit=audit,
            clock=self.clock,
        )
        self.list_keys = ListApiKeys(api_keys=self.keys, audit=audit)
        self.revoke_key = RevokeApiKey(api_keys=self.keys, audit=audit, clock=self.clock)

    async def events(self, action: str | None = None) -> list[tuple[str, AuditOutcome]]:
        entries = await self.audit_log.query(AuditQuery(action=action, limit=1000))
        return [(e.event.action, e.event.outcome) for e in reversed(entries)]


@pytest.fixture
async def world() -> World:
    return World()


async def admin_and_alice(w: World) -> tuple[Principal, User]:
    admin = await w.bootstrap.execute(username="root", password=ADMIN_PW)
    actor = await w.authorize.principal((await w.login.execute("root", ADMIN_PW)).access_token)
    assert actor.user_id == admin.id
    alice = await w.create_user.execute(
        actor,
        username="Alice",
        password=ALICE_PW,
        roles=frozenset({Role.ANALYST}),
        client_address=ADDR,
    )
    return actor, alice


# ---- bootstrap and user management ---------------------------------------------------------


async def test_first_admin_only_once(world: World) -> None:
    admin = await world.bootstrap.execute(username="Root", password=ADMIN_PW)
    assert admin.username == "root"
    assert admin.roles == {Role.ADMIN}
    with pytest.raises(Conflict, match="admin exists"):
        await world.bootstrap.execute(username="other", password=ADMIN_PW)
    assert await world.events("users") == [("users.bootstrap_admin", AuditOutcome.SUCCESS)]


async def test_bootstrap_checks_the_password_policy(world: World) -> None:
    with pytest.raises(InvalidInput) as err:
        await world.bootstrap.execute(username="root", password="root")
    assert err.value.field == "password"
    assert await world.users.list() == []


async def test_create_user_is_admin_only_and_audited(world: World) -> None:
    actor, alice = await admin_and_alice(world)
    assert alice.username == "alice"
    alice_p = await world.authorize.principal(
        (await world.login.execute("alice", ALICE_PW)).access_token
    )
    with pytest.raises(Forbidden, match="users:manage"):
        await world.create_user.execute(
            alice_p,
            username="mallory",
            password="evil genius pw 123",
            roles=frozenset({Role.ADMIN}),
        )
    with pytest.raises(Conflict):
        await world.create_user.execute(
            actor, username="ALICE", password="another pw 12345", roles=frozenset({Role.VIEWER})
        )
    with pytest.raises(InvalidInput, match="role"):
        await world.create_user.execute(
            actor, username="nobody", password="another pw 12345", roles=frozenset()
        )
    assert [u.username for u in await world.list_users.execute(actor)] == ["alice", "root"]
    with pytest.raises(Forbidden):
        await world.list_users.execute(alice_p)
    assert ("users.create", AuditOutcome.DENIED) in await world.events("users")
    created = await world.audit_log.query(
        AuditQuery(action="users.create", outcome=AuditOutcome.SUCCESS)
    )
    assert created[0].event.target == f"user:{alice.id}"
    assert created[0].event.client_address == ADDR
    assert ALICE_PW not in str(created[0].event)


async def test_disabled_user_is_refused_everywhere(world: World) -> None:
    actor, alice = await admin_and_alice(world)
    pair = await world.login.execute("alice", ALICE_PW)
    await world.set_state.execute(actor, alice.id, UserState.DISABLED)
    with pytest.raises(Unauthenticated, match="disabled"):
        await world.login.execute("alice", ALICE_PW)
    with pytest.raises(Unauthenticated, match="disabled"):
        await world.authorize.principal(pair.access_token)
    with pytest.raises(Unauthenticated):
        await world.refresh.execute(pair.refresh_token)
    # a wrong password for a disabled account gives the generic answer
    with pytest.raises(Unauthenticated, match="invalid username or password"):
        await world.login.execute("alice", "wrong password 1")
    await world.set_state.execute(actor, alice.id, UserState.ACTIVE)
    assert (await world.login.execute("alice", ALICE_PW)).access_token


async def test_last_admin_cannot_be_disabled_or_demoted(world: World) -> None:
    actor, alice = await admin_and_alice(world)
    with pytest.raises(Conflict, match="last active admin"):
        await world.set_state.execute(actor, actor.user_id, UserState.DISABLED)
    with pytest.raises(Conflict, match="last active admin"):
        await world.assign_roles.execute(actor, actor.user_id, frozenset({Role.VIEWER}))
    promoted = await world.assign_roles.execute(actor, alice.id, frozenset({Role.ADMIN}))
    assert promoted.is_admin
    demoted = await world.assign_roles.execute(actor, actor.user_id, frozenset({Role.VIEWER}))
    assert demoted.roles == {Role.VIEWER}
    with pytest.raises(NotFound):
        await world.assign_roles.execute(
            await world.authorize.principal(
                (await world.login.execute("alice", ALICE_PW)).access_token
            ),
            "no-such-id",
            frozenset({Role.VIEWER}),
        )


async def test_role_change_applies_to_the_next_request(world: World) -> None:
    actor, alice = await admin_and_alice(world)
    token = (await world.login.execute("alice", ALICE_PW)).access_token
    assert (await world.authorize.principal(token)).has(Permission.BACKTESTS_RUN)
    await world.assign_roles.execute(actor, alice.id, frozenset({Role.VIEWER}))
    # a role change ends the user's sessions (issue 12): the old token no longer works at all
    with pytest.raises(Unauthenticated, match="session has ended"):
        await world.authorize.require(token, Permission.BACKTESTS_RUN)
    fresh = (await world.login.execute("alice", ALICE_PW)).access_token
    with pytest.raises(Forbidden):
        await world.authorize.require(fresh, Permission.BACKTESTS_RUN)


async def test_reset_password_ends_sessions(world: World) -> None:
    actor, alice = await admin_and_alice(world)
    pair = await world.login.execute("alice", ALICE_PW)
    with pytest.raises(InvalidInput):
        await world.reset_password.execute(actor, alice.id, "short")
    await world.reset_password.execute(actor, alice.id, "brand new secret 9")
    with pytest.raises(Unauthenticated):
        await world.refresh.execute(pair.refresh_token)
    with pytest.raises(Unauthenticated):
        await world.login.execute("alice", ALICE_PW)
    assert await world.login.execute("alice", "brand new secret 9")


# ---- sign-in ------------------------------------------------------------------------------


async def test_login_issues_a_working_pair(world: World) -> None:
    _, alice = await admin_and_alice(world)
    pair = await world.login.execute("  ALICE ", ALICE_PW, client_address=ADDR)
    assert pair.token_type == "Bearer"
    assert pair.access_expires_at == world.clock.now() + timedelta(minutes=10)
    assert pair.refresh_expires_at == world.clock.now() + timedelta(days=1)
    principal = await world.authorize.principal(pair.access_token)
    assert principal.kind is PrincipalKind.USER
    assert principal.user_id == alice.id
    assert principal.roles == {Role.ANALYST}
    stored = await world.refresh_tokens.find(world.secrets.digest(pair.refresh_token))
    assert stored is not None
    assert stored.token_hash != pair.refresh_token  # only the keyed hash is stored
    last = (await world.audit_log.query(AuditQuery(action="auth.login", limit=1)))[0].event
    assert last.outcome is AuditOutcome.SUCCESS
    assert last.client_address == ADDR


async def test_login_failures_look_the_same(world: World) -> None:
    await admin_and_alice(world)
    messages = []
    for username, password in [("alice", "wrong password 1"), ("nobody", ALICE_PW), ("x y", "z")]:
        with pytest.raises(Unauthenticated) as err:
            await world.login.execute(username, password)
        messages.append(err.value.message)
    assert len(set(messages)) == 1
    failures = await world.audit_log.query(
        AuditQuery(action="auth.login", outcome=AuditOutcome.FAILURE)
    )
    assert len(failures) == 3


async def test_login_throttles_then_locks_then_recovers(world: World) -> None:
    await admin_and_alice(world)
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            await world.login.execute("alice", "wrong password 1", client_address=ADDR)
    with pytest.raises(TooManyRequests) as err:
        await world.login.execute("alice", ALICE_PW, client_address=ADDR)  # even the right one
    assert err.value.retry_after == pytest.approx(1.0)
    # an unknown username is throttled exactly alike
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            await world.login.execute("ghost", "wrong password 1")
    with pytest.raises(TooManyRequests) as ghost:
        await world.login.execute("ghost", "wrong password 1")
    assert ghost.value.retry_after == err.value.retry_after
    world.clock.advance(1)
    assert await world.login.execute("alice", ALICE_PW, client_address=ADDR)
    assert ("auth.login", AuditOutcome.DENIED) in await world.events("auth.login")


async def test_login_rehashes_when_parameters_change(world: World) -> None:
    await admin_and_alice(world)
    before = await world.users.credentials("alice")
    assert before is not None
    stronger = Argon2PasswordHasher(time_cost=2, memory_cost_kib=2048, parallelism=1)
    upgraded = World(hasher=stronger)
    upgraded.users = world.users
    upgraded.login = Authenticate(
        users=world.users,
        hasher=stronger,
        sessions=world.sessions,
        throttle=world.throttle,
        audit=AuditTrail(world.audit_log, world.clock),
        clock=world.clock,
    )
    await upgraded.login.execute("alice", ALICE_PW)
    after = await world.users.credentials("alice")
    assert after is not None
    assert after.password_hash != before.password_hash
    assert not stronger.needs_rehash(after.password_hash)
    await upgraded.login.execute("alice", ALICE_PW)  # the new hash verifies
    same = await world.users.credentials("alice")
    assert same is not None
    assert same.password_hash == after.password_hash  # no needless rehash


# ---- refresh, replay and logout ------------------------------------------------------------


async def test_refresh_rotates(world: World) -> None:
    _, alice = await admin_and_alice(world)
    first = await world.login.execute("alice", ALICE_PW)
    world.clock.advance(minutes=5)
    second = await world.refresh.execute(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert (await world.authorize.principal(second.access_token)).user_id == alice.id
    world.clock.advance(minutes=5)
    third = await world.refresh.execute(second.refresh_token)
    assert third.refresh_token not in {first.refresh_token, second.refresh_token}


async def test_replayed_refresh_token_revokes_the_family(world: World) -> None:
    await admin_and_alice(world)
    first = await world.login.execute("alice", ALICE_PW)
    other_session = await world.login.execute("alice", ALICE_PW)
    second = await world.refresh.execute(first.refresh_token)
    with pytest.raises(Unauthenticated):
        await world.refresh.execute(first.refresh_token)  # the thief replays
    with pytest.raises(Unauthenticated):
        await world.refresh.execute(second.refresh_token)  # the family is gone
    assert await world.refresh.execute(other_session.refresh_token)  # other sessions live on
    replay = await world.audit_log.query(AuditQuery(action="auth.refresh_replay"))
    assert len(replay) == 1
    assert replay[0].event.outcome is AuditOutcome.DENIED


async def test_concurrent_refresh_with_one_token_lets_one_win(world: World) -> None:
    await admin_and_alice(world)
    first = await world.login.execute("alice", ALICE_PW)
    results = await asyncio.gather(
        world.refresh.execute(first.refresh_token),
        world.refresh.execute(first.refresh_token),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Unauthenticated) for r in results) >= 1


async def test_refresh_token_expiry_and_session_age(world: World) -> None:
    await admin_and_alice(world)
    pair = await world.login.execute("alice", ALICE_PW)
    world.clock.advance(days=1)
    with pytest.raises(Unauthenticated):
        await world.refresh.execute(pair.refresh_token)
    pair = await world.login.execute("alice", ALICE_PW)
    for _ in range(3):  # refresh daily, but the session dies after max_session_age (3 days)
        world.clock.advance(hours=23)
        pair = await world.refresh.execute(pair.refresh_token)
    world.clock.advance(hours=3)
    with pytest.raises(Unauthenticated):
        await world.refresh.execute(pair.refresh_token)
    with pytest.raises(Unauthenticated):
        await world.refresh.execute("not-a-token")


async def test_access_token_expires(world: World) -> None:
    await admin_and_alice(world)
    pair = await world.login.execute("alice", ALICE_PW)
    world.clock.advance(minutes=11)
    with pytest.raises(Unauthenticated, match="expired"):
        await world.authorize.principal(pair.access_token)


async def test_logout_and_logout_everywhere(world: World) -> None:
    await admin_and_alice(world)
    one = await world.login.execute("alice", ALICE_PW)
    two = await world.login.execute("alice", ALICE_PW)
    three = await world.login.execute("alice", ALICE_PW)
    await world.logout.execute(one.refresh_token, client_address=ADDR)
    await world.logout.execute(one.refresh_token)  # idempotent
    await world.logout.execute("unknown-token")  # silent
    with pytest.raises(Unauthenticated):
        await world.refresh.execute(one.refresh_token)
    assert await world.refresh.execute(two.refresh_token)
    alice = await world.authorize.principal(three.access_token)
    assert await world.logout.everywhere(alice) >= 2
    with pytest.raises(Unauthenticated):
        await world.refresh.execute(three.refresh_token)
    assert [a for a, _ in await world.events("auth.logout")] == ["auth.logout"]


# ---- authorization ------------------------------------------------------------------------


async def test_authorize_rejects_missing_and_garbage(world: World) -> None:
    for credential in (None, "", "   ", "garbage", "arbx_nothex_x"):
        with pytest.raises(Unauthenticated):
            await world.authorize.principal(credential)


async def test_require_checks_ownership(world: World) -> None:
    _, alice = await admin_and_alice(world)
    token = (await world.login.execute("alice", ALICE_PW)).access_token
    mine = Resource(owner_id=alice.id)
    theirs = Resource(owner_id="someone-else")
    assert await world.authorize.require(token, Permission.STRATEGIES_WRITE, mine)
    with pytest.raises(Forbidden):
        await world.authorize.require(token, Permission.STRATEGIES_WRITE, theirs)
    with pytest.raises(Forbidden):
        await world.authorize.require(token, Permission.INGEST_RUN)


# ---- api keys -----------------------------------------------------------------------------


async def alice_principal(w: World) -> tuple[Principal, Principal]:
    admin, _ = await admin_and_alice(w)
    alice = await w.authorize.principal((await w.login.execute("alice", ALICE_PW)).access_token)
    return admin, alice


async def test_api_key_create_use_list_revoke(world: World) -> None:
    _, alice = await alice_principal(world)
    created = await world.create_key.execute(alice, name="nightly", client_address=ADDR)
    assert created.secret.startswith(f"arbx_{created.key.prefix}_")
    assert created.secret not in created.key.secret_hash
    assert created.key.roles == {Role.ANALYST}
    assert created.key.expires_at == world.clock.now() + timedelta(days=90)
    world.clock.advance(minutes=3)
    principal = await world.authorize.principal(created.secret)
    assert principal.kind is PrincipalKind.API_KEY
    assert principal.user_id == alice.user_id
    assert principal.api_key_id == created.key.id
    assert principal.actor == f"api_key:{created.key.id}"
    listed = await world.list_keys.execute(alice)
    assert [k.id for k in listed] == [created.key.id]
    assert listed[0].last_used_at == world.clock.now()
    await world.revoke_key.execute(alice, created.key.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        await world.authorize.principal(created.secret)
    actions = [a for a, _ in await world.events("api_keys")]
    assert actions == ["api_keys.create", "api_keys.revoke"]
    logged = await world.audit_log.query(AuditQuery(action="api_keys", limit=10))
    assert all(created.secret not in str(e.event) for e in logged)


async def test_last_used_is_written_at_most_once_a_minute(world: World) -> None:
    _, alice = await alice_principal(world)
    created = await world.create_key.execute(alice, name="poller")
    await world.authorize.principal(created.secret)
    first_use = world.clock.now()
    world.clock.advance(30)
    await world.authorize.principal(created.secret)
    assert (await world.keys.get(created.key.id)).last_used_at == first_use
    world.clock.advance(30)
    await world.authorize.principal(created.secret)
    assert (await world.keys.get(created.key.id)).last_used_at == world.clock.now()


async def test_api_key_expires(world: World) -> None:
    _, alice = await alice_principal(world)
    created = await world.create_key.execute(alice, name="short", expires_in=timedelta(hours=1))
    world.clock.advance(hours=1)
    with pytest.raises(Unauthenticated, match="expired"):
        await world.authorize.principal(created.secret)
    for bad in (timedelta(0), timedelta(days=400)):
        with pytest.raises(InvalidInput) as err:
            await world.create_key.execute(alice, name="bad", expires_in=bad)
        assert err.value.field == "expires_in"


async def test_api_key_wrong_secret_and_unknown_prefix(world: World) -> None:
    _, alice = await alice_principal(world)
    created = await world.create_key.execute(alice, name="k")
    tampered = created.secret[:-1] + ("A" if created.secret[-1] != "A" else "B")
    with pytest.raises(Unauthenticated, match="not valid"):
        await world.authorize.principal(tampered)
    other = world.secrets.new_api_key()
    with pytest.raises(Unauthenticated, match="not valid"):
        await world.authorize.principal(other)


async def test_api_key_roles_are_bounded_by_the_owner(world: World) -> None:
    admin, alice = await alice_principal(world)
    with pytest.raises(InvalidInput, match="admin"):
        await world.create_key.execute(alice, name="escalate", roles=frozenset({Role.ADMIN}))
    viewer_key = await world.create_key.execute(
        alice, name="read-only", roles=frozenset({Role.VIEWER})
    )
    key_principal = await world.authorize.principal(viewer_key.secret)
    assert not key_principal.has(Permission.BACKTESTS_RUN)
    assert key_principal.has(Permission.DATA_READ)
    # demoting the owner narrows what the key can do; disabling the owner stops it
    analyst_key = await world.create_key.execute(alice, name="full")
    await world.assign_roles.execute(admin, alice.user_id, frozenset({Role.VIEWER}))
    narrowed = await world.authorize.principal(analyst_key.secret)
    assert narrowed.has(Permission.DATA_READ)
    assert not narrowed.has(Permission.BACKTESTS_RUN)
    with pytest.raises(Forbidden):
        await world.authorize.require(analyst_key.secret, Permission.STRATEGIES_WRITE)
    await world.set_state.execute(admin, alice.user_id, UserState.DISABLED)
    with pytest.raises(Unauthenticated, match="disabled"):
        await world.authorize.principal(viewer_key.secret)


async def test_api_key_ownership(world: World) -> None:
    admin, alice = await alice_principal(world)
    bob = await world.create_user.execute(
        admin, username="bob", password="builder pass 12345", roles=frozenset({Role.OPERATOR})
    )
    bobs = await world.create_key.execute(admin, name="for bob", owner_id=bob.id)
    assert bobs.key.owner_id == bob.id
    assert bobs.key.roles == {Role.OPERATOR}
    with pytest.raises(Forbidden):
        await world.create_key.execute(alice, name="for bob", owner_id=bob.id)
    with pytest.raises(Forbidden):
        await world.revoke_key.execute(alice, bobs.key.id)
    with pytest.raises(Forbidden):
        await world.list_keys.execute(alice, owner_id=bob.id)
    with pytest.raises(Forbidden):
        await world.list_keys.execute(alice, all_owners=True)
    assert [k.id for k in await world.list_keys.execute(admin, all_owners=True)] == [bobs.key.id]
    assert (await world.revoke_key.execute(admin, bobs.key.id)).revoked_at is not None
    with pytest.raises(NotFound):
        await world.revoke_key.execute(admin, "no-such-key")


async def test_api_key_cannot_mint_keys_and_viewers_have_none(world: World) -> None:
    admin, alice = await alice_principal(world)
    created = await world.create_key.execute(alice, name="script")
    as_key = await world.authorize.principal(created.secret)
    with pytest.raises(Forbidden, match="cannot create"):
        await world.create_key.execute(as_key, name="child")
    viewer = await world.create_user.execute(
        admin, username="vera", password="quiet reader 12345", roles=frozenset({Role.VIEWER})
    )
    vera = await world.authorize.principal(
        (await world.login.execute(viewer.username, "quiet reader 12345")).access_token
    )
    with pytest.raises(Forbidden):
        await world.create_key.execute(vera, name="mine")


# ---- own password and the audit log -------------------------------------------------------


async def test_change_own_password(world: World) -> None:
    _, alice = await alice_principal(world)
    pair = await world.login.execute("alice", ALICE_PW)
    with pytest.raises(Unauthenticated, match="current password"):
        await world.change_password.execute(alice, "not my password", "fresh secret 4567")
    with pytest.raises(InvalidInput):
        await world.change_password.execute(alice, ALICE_PW, "short")
    with pytest.raises(InvalidInput, match="differ"):
        await world.change_password.execute(alice, ALICE_PW, ALICE_PW)
    await world.change_password.execute(alice, ALICE_PW, "fresh secret 4567")
    with pytest.raises(Unauthenticated):
        await world.refresh.execute(pair.refresh_token)
    assert await world.login.execute("alice", "fresh secret 4567")
    key = await world.create_key.execute(alice, name="script")
    as_key = await world.authorize.principal(key.secret)
    with pytest.raises(Forbidden):
        await world.change_password.execute(as_key, "fresh secret 4567", "other secret 4567")
    outcomes = [o for _, o in await world.events("users.change_password")]
    assert outcomes == [AuditOutcome.FAILURE, AuditOutcome.SUCCESS]


async def test_audit_log_is_for_admins_and_records_the_story(world: World) -> None:
    admin, alice = await alice_principal(world)
    with pytest.raises(Unauthenticated):
        await world.login.execute("alice", "wrong password 1", client_address=ADDR)
    with pytest.raises(Forbidden, match="audit:read"):
        await world.read_audit.execute(alice, AuditQuery())
    story = await world.read_audit.execute(admin, AuditQuery(limit=1000))
    actions = [e.event.action for e in reversed(story)]
    assert actions == [
        "users.bootstrap_admin",
        "auth.login",
        "users.create",
        "auth.login",
        "auth.login",
    ]
    failed = story[0].event
    assert failed.outcome is AuditOutcome.FAILURE
    assert failed.client_address == ADDR
    assert failed.actor == "anonymous"


async def test_user_cache_delays_changes_by_at_most_its_ttl(world: World) -> None:
    admin, alice = await alice_principal(world)
    cached = Authorize(
        users=world.users,
        api_keys=world.keys,
        sessions=world.refresh_tokens,
        tokens=world.jwt,
        secrets=world.secrets,
        clock=world.clock,
        cache_ttl=timedelta(seconds=2),
    )
    token = (await world.login.execute("alice", ALICE_PW)).access_token
    assert (await cached.principal(token)).has(Permission.BACKTESTS_RUN)
    await world.set_state.execute(admin, alice.user_id, UserState.DISABLED)
    assert await cached.principal(token)  # still cached
    with pytest.raises(Unauthenticated):
        await world.authorize.principal(token)  # no cache: refused at once
    world.clock.advance(2)
    with pytest.raises(Unauthenticated, match="disabled"):
        await cached.principal(token)


async def test_key_cache_delays_revocation_by_at_most_its_ttl(world: World) -> None:
    _, alice = await alice_principal(world)
    cached = Authorize(
        users=world.users,
        api_keys=world.keys,
        sessions=world.refresh_tokens,
        tokens=world.jwt,
        secrets=world.secrets,
        clock=world.clock,
        cache_ttl=timedelta(seconds=2),
    )
    created = await world.create_key.execute(alice, name="poller")
    assert await cached.principal(created.secret)
    world.clock.advance(1)
    assert await cached.principal(created.secret)
    # last use is written once; the cached record does not cause a write per request
    assert (await world.keys.get(created.key.id)).last_used_at == world.clock.now() - timedelta(
        seconds=1
    )
    await world.revoke_key.execute(alice, created.key.id)
    assert await cached.principal(created.secret)
    tampered = created.secret[:-1] + ("A" if created.secret[-1] != "A" else "B")
    with pytest.raises(Unauthenticated):
        await cached.principal(tampered)  # the secret is checked even on a cache hit
    world.clock.advance(1)
    with pytest.raises(Unauthenticated, match="revoked"):
        await cached.principal(created.secret)


async def test_an_expired_cache_entry_is_reloaded_once_for_concurrent_requests(
    world: World,
) -> None:
    """When the cached key and user expire under load, one lookup serves every waiting
    request, and last-used is written once (no thundering herd on the store)."""
    import asyncio

    _, alice = await alice_principal(world)
    created = await world.create_key.execute(alice, name="poller")
    calls = {"find": 0, "get": 0, "touch": 0}

    class Counting:
        def __init__(self, inner: object, counted: dict[str, str]) -> None:
            self._inner = inner
            self._counted = counted

        def __getattr__(self, name: str) -> object:
            attr = getattr(self._inner, name)
            if name not in self._counted:
                return attr

            async def counted(*args: object, **kwargs: object) -> object:
                calls[self._counted[name]] += 1
                await asyncio.sleep(0.01)  # a slow store: every request arrives meanwhile
                return await attr(*args, **kwargs)

            return counted

    cached = Authorize(
        users=Counting(world.users, {"get": "get"}),  # type: ignore[arg-type]
        api_keys=Counting(world.keys, {"find_by_prefix": "find", "touch": "touch"}),  # type: ignore[arg-type]
        sessions=world.refresh_tokens,
        tokens=world.jwt,
        secrets=world.secrets,
        clock=world.clock,
        cache_ttl=timedelta(seconds=2),
    )
    for _ in range(2):  # a cold cache, then an expired one
        principals = await asyncio.gather(*(cached.principal(created.secret) for _ in range(50)))
        assert {p.api_key_id for p in principals} == {created.key.id}
        world.clock.advance(2)
    assert calls == {"find": 2, "get": 2, "touch": 1}
    # a failed lookup fails every waiter, and the next request tries again
    wrong = created.secret[:-1] + ("A" if created.secret[-1] != "A" else "B")
    results = await asyncio.gather(
        *(cached.principal(wrong) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, Unauthenticated) for r in results)


# ---- sessions end for access tokens too (issue 12) -------------------------------------------


async def _alice_token(w: World) -> tuple[Principal, User, str, str]:
    actor, alice = await admin_and_alice(w)
    pair = await w.login.execute("alice", ALICE_PW)
    assert await w.authorize.principal(pair.access_token)
    return actor, alice, pair.access_token, pair.refresh_token


async def test_logout_ends_the_access_token_too(world: World) -> None:
    _, _, access, refresh = await _alice_token(world)
    other = await world.login.execute("alice", ALICE_PW)  # a second session stays signed in
    await world.logout.execute(refresh)
    with pytest.raises(Unauthenticated, match="session has ended"):
        await world.authorize.principal(access)
    assert await world.authorize.principal(other.access_token)


async def test_logout_everywhere_ends_every_access_token(world: World) -> None:
    _, _, access, _ = await _alice_token(world)
    other = await world.login.execute("alice", ALICE_PW)
    alice = await world.authorize.principal(other.access_token)
    await world.logout.everywhere(alice)
    for token in (access, other.access_token):
        with pytest.raises(Unauthenticated, match="session has ended"):
            await world.authorize.principal(token)


async def test_password_change_and_reset_end_the_access_token(world: World) -> None:
    actor, alice, access, _ = await _alice_token(world)
    principal = await world.authorize.principal(access)
    await world.change_password.execute(principal, ALICE_PW, "a whole new secret 77")
    with pytest.raises(Unauthenticated, match="session has ended"):
        await world.authorize.principal(access)
    again = (await world.login.execute("alice", "a whole new secret 77")).access_token
    assert await world.authorize.principal(again)
    await world.reset_password.execute(actor, alice.id, "brand new secret 9")
    with pytest.raises(Unauthenticated, match="session has ended"):
        await world.authorize.principal(again)


async def test_refresh_replay_ends_the_access_tokens_of_the_family(world: World) -> None:
    _, _, access, refresh = await _alice_token(world)
    rotated = await world.refresh.execute(refresh)
    assert await world.authorize.principal(rotated.access_token)  # rotation keeps the session
    with pytest.raises(Unauthenticated):
        await world.refresh.execute(refresh)  # replay: the family is revoked
    for token in (access, rotated.access_token):
        with pytest.raises(Unauthenticated, match="session has ended"):
            await world.authorize.principal(token)


async def test_disabling_ends_the_session(world: World) -> None:
    actor, alice, access, refresh = await _alice_token(world)
    await world.set_state.execute(actor, alice.id, UserState.DISABLED)
    await world.set_state.execute(actor, alice.id, UserState.ACTIVE)
    with pytest.raises(Unauthenticated, match="session has ended"):
        await world.authorize.principal(access)  # re-enabling does not revive old sessions
    with pytest.raises(Unauthenticated):
        await world.refresh.execute(refresh)


async def test_cached_sessions_end_at_once_here_and_within_the_ttl_elsewhere(
    world: World,
) -> None:
    """The principal cache of this process forgets a revoked session at once; another
    process (its own cache over the same store) sees the revocation within its ttl."""
    here_cache = PrincipalCache(timedelta(seconds=5))
    sessions = CacheForgettingSessions(world.refresh_tokens, here_cache)
    here = Authorize(
        users=world.users,
        api_keys=world.keys,
        sessions=sessions,
        tokens=world.jwt,
        secrets=world.secrets,
        clock=world.clock,
        cache=here_cache,
    )
    elsewhere = Authorize(
        users=world.users,
        api_keys=world.keys,
        sessions=world.refresh_tokens,
        tokens=world.jwt,
        secrets=world.secrets,
        clock=world.clock,
        cache_ttl=timedelta(seconds=5),
    )
    logout = Logout(
        refresh_tokens=sessions,
        secrets=world.secrets,
        audit=AuditTrail(world.audit_log, world.clock),
        clock=world.clock,
    )
    _, _, access, refresh = await _alice_token(world)
    assert await here.principal(access)
    assert await elsewhere.principal(access)
    await logout.execute(refresh)
    with pytest.raises(Unauthenticated, match="session has ended"):
        await here.principal(access)
    assert await elsewhere.principal(access)  # still within its cache's ttl
    world.clock.advance(5)
    with pytest.raises(Unauthenticated, match="session has ended"):
        await elsewhere.principal(access)


async def test_an_api_key_principal_shows_the_roles_in_force(world: World) -> None:
    admin, alice = await alice_principal(world)
    key = await world.create_key.execute(alice, name="full")  # the owner's roles: analyst
    assert (await world.authorize.principal(key.secret)).roles == {Role.ANALYST}
    await world.assign_roles.execute(admin, alice.user_id, frozenset({Role.VIEWER}))
    demoted = await world.authorize.principal(key.secret)
    assert demoted.roles == {Role.VIEWER}
    assert demoted.permissions == permissions_of(frozenset({Role.VIEWER}))
