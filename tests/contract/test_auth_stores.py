"""The auth ports' contract suites, each written once and run against every adapter.

Adapters: memory (reference), sqlite and postgres. Tests use only the ports' methods.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from arbx.adapters.memory.api_key_store import MemoryApiKeyStore
from arbx.adapters.memory.audit_log import MemoryAuditLog
from arbx.adapters.memory.refresh_token_store import MemoryRefreshTokenStore
from arbx.adapters.memory.user_store import MemoryUserStore
from arbx.adapters.sqlite.api_key_store import SqliteApiKeyStore
from arbx.adapters.sqlite.audit_log import SqliteAuditLog
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.adapters.sqlite.refresh_token_store import SqliteRefreshTokenStore
from arbx.adapters.sqlite.user_store import SqliteUserStore
from arbx.domain.auth import (
    ApiKey,
    AuditEvent,
    AuditOutcome,
    AuditQuery,
    RefreshToken,
    Role,
    User,
    UserState,
)
from arbx.domain.errors import Conflict, NotFound, StorageError
from arbx.ports.api_key_store import ApiKeyStore
from arbx.ports.audit_log import AuditLog
from arbx.ports.refresh_token_store import RefreshTokenStore
from arbx.ports.user_store import UserStore

ADAPTERS = ["memory", "sqlite", "postgres"]
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


class Stores:
    def __init__(
        self, users: UserStore, keys: ApiKeyStore, tokens: RefreshTokenStore, audit: AuditLog
    ) -> None:
        self.users = users
        self.keys = keys
        self.tokens = tokens
        self.audit = audit


@pytest.fixture
def memory_auth_stores() -> Stores:
    return Stores(
        MemoryUserStore(), MemoryApiKeyStore(), MemoryRefreshTokenStore(), MemoryAuditLog()
    )


@pytest.fixture
async def sqlite_auth_stores(tmp_path: Path) -> AsyncIterator[Stores]:
    database = SqliteDatabase(tmp_path / "arbx.sqlite")
    async with database:
        yield Stores(
            SqliteUserStore(database),
            SqliteApiKeyStore(database),
            SqliteRefreshTokenStore(database),
            SqliteAuditLog(database),
        )


@pytest.fixture
def postgres_auth_stores(
    postgres_user_store: UserStore,
    postgres_api_key_store: ApiKeyStore,
    postgres_refresh_token_store: RefreshTokenStore,
    postgres_audit_log: AuditLog,
) -> Stores:
    return Stores(
        postgres_user_store,
        postgres_api_key_store,
        postgres_refresh_token_store,
        postgres_audit_log,
    )


@pytest.fixture(params=ADAPTERS)
def stores(request: pytest.FixtureRequest) -> Stores:
    chosen: Stores = request.getfixturevalue(f"{request.param}_auth_stores")
    return chosen


def user(uid: str = "u1", name: str = "alice", *roles: Role, **kw: object) -> User:
    return User(
        id=uid,
        username=name,
        roles=frozenset(roles or {Role.ANALYST}),
        created_at=kw.pop("created_at", T0),
        **kw,  # type: ignore[arg-type]
    )


# ---- users ---------------------------------------------------------------------------------


async def test_user_add_get_find_credentials(stores: Stores) -> None:
    alice = user("u1", "alice", Role.ANALYST, Role.VIEWER)
    await stores.users.add(alice, "hash-1")
    assert await stores.users.get("u1") == alice
    assert await stores.users.find_by_username("alice") == alice
    creds = await stores.users.credentials("alice")
    assert creds is not None
    assert creds.user == alice
    assert creds.password_hash == "hash-1"
    assert await stores.users.find_by_username("bob") is None
    assert await stores.users.credentials("bob") is None
    with pytest.raises(NotFound):
        await stores.users.get("nope")


async def test_user_uniqueness_changes_nothing(stores: Stores) -> None:
    await stores.users.add(user("u1", "alice"), "h")
    with pytest.raises(Conflict):
        await stores.users.add(user("u1", "other"), "h")
    with pytest.raises(Conflict):
        await stores.users.add(user("u2", "alice"), "h")
    assert [u.id for u in await stores.users.list()] == ["u1"]


async def test_user_update_and_password(stores: Stores) -> None:
    await stores.users.add(user("u1", "alice"), "h1")
    changed = user("u1", "alice", Role.OPERATOR).with_state(UserState.DISABLED)
    await stores.users.update(changed)
    got = await stores.users.get("u1")
    assert got.roles == {Role.OPERATOR}
    assert got.state is UserState.DISABLED
    await stores.users.set_password_hash("u1", "h2")
    creds = await stores.users.credentials("alice")
    assert creds is not None
    assert creds.password_hash == "h2"
    with pytest.raises(NotFound):
        await stores.users.update(user("u9", "ghost"))
    with pytest.raises(NotFound):
        await stores.users.set_password_hash("u9", "h")


async def test_user_list_sorted_and_admin_count(stores: Stores) -> None:
    await stores.users.add(user("u2", "zed", Role.ADMIN), "h")
    await stores.users.add(user("u1", "amy", Role.VIEWER), "h")
    await stores.users.add(user("u3", "max", Role.ADMIN).with_state(UserState.DISABLED), "h")
    assert [u.username for u in await stores.users.list()] == ["amy", "max", "zed"]
    assert await stores.users.count_active_admins() == 1


async def test_first_admin_only_when_none_exists(stores: Stores) -> None:
    await stores.users.add(user("u1", "root", Role.ADMIN), "h", only_if_no_admin=True)
    with pytest.raises(Conflict):
        await stores.users.add(user("u2", "root2", Role.ADMIN), "h", only_if_no_admin=True)
    assert await stores.users.count_active_admins() == 1


async def test_concurrent_first_admins_cannot_both_win(stores: Stores) -> None:
    results = await asyncio.gather(
        *(
            stores.users.add(user(f"u{i}", f"root{i}", Role.ADMIN), "h", only_if_no_admin=True)
            for i in range(5)
        ),
        return_exceptions=True,
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if r is not None)


# ---- api keys ------------------------------------------------------------------------------


def api_key(
    kid: str = "k1", prefix: str = "0123456789ab", owner: str = "u1", **kw: object
) -> ApiKey:
    fields: dict[str, object] = {
        "id": kid,
        "name": f"key {kid}",
        "owner_id": owner,
        "prefix": prefix,
        "secret_hash": f"digest-{kid}",
        "roles": frozenset({Role.ANALYST}),
        "created_at": T0,
    }
    fields.update(kw)
    return ApiKey(**fields)  # type: ignore[arg-type]


async def test_api_key_add_get_find(stores: Stores) -> None:
    key = api_key(expires_at=T0 + timedelta(days=30))
    await stores.keys.add(key)
    assert await stores.keys.get("k1") == key
    assert await stores.keys.find_by_prefix("0123456789ab") == key
    assert await stores.keys.find_by_prefix("ffffffffffff") is None
    with pytest.raises(NotFound):
        await stores.keys.get("nope")
    with pytest.raises(Conflict):
        await stores.keys.add(api_key("k1", "aaaaaaaaaaaa"))
    with pytest.raises(Conflict):
        await stores.keys.add(api_key("k2", "0123456789ab"))
    assert len(await stores.keys.list()) == 1


async def test_api_key_list_by_owner_oldest_first(stores: Stores) -> None:
    await stores.keys.add(api_key("k2", "bbbbbbbbbbbb", created_at=T0 + timedelta(hours=1)))
    await stores.keys.add(api_key("k1", "aaaaaaaaaaaa"))
    await stores.keys.add(api_key("k3", "cccccccccccc", owner="u2"))
    assert [k.id for k in await stores.keys.list("u1")] == ["k1", "k2"]
    assert {k.id for k in await stores.keys.list()} == {"k1", "k2", "k3"}
    assert await stores.keys.list("nobody") == []


async def test_api_key_revoke_once_and_touch_forward(stores: Stores) -> None:
    await stores.keys.add(api_key())
    first = await stores.keys.revoke("k1", T0 + timedelta(hours=1))
    again = await stores.keys.revoke("k1", T0 + timedelta(hours=2))
    assert first.revoked_at == again.revoked_at == T0 + timedelta(hours=1)
    assert (await stores.keys.get("k1")).revoked_at == T0 + timedelta(hours=1)
    with pytest.raises(NotFound):
        await stores.keys.revoke("nope", T0)
    await stores.keys.touch("k1", T0 + timedelta(minutes=5))
    await stores.keys.touch("k1", T0 + timedelta(minutes=1))  # older: ignored
    await stores.keys.touch("nope", T0)  # unknown: ignored
    assert (await stores.keys.get("k1")).last_used_at == T0 + timedelta(minutes=5)


# ---- refresh tokens ------------------------------------------------------------------------


def refresh(tid: str, family: str = "f1", uid: str = "u1", **kw: object) -> RefreshToken:
    fields: dict[str, object] = {
        "id": tid,
        "family_id": family,
        "user_id": uid,
        "token_hash": f"hash-{tid}",
        "issued_at": T0,
        "expires_at": T0 + timedelta(days=1),
        "session_started_at": T0,
    }
    fields.update(kw)
    return RefreshToken(**fields)  # type: ignore[arg-type]


async def test_refresh_add_find(stores: Stores) -> None:
    await stores.tokens.add(refresh("t1"))
    assert await stores.tokens.find("hash-t1") == refresh("t1")
    assert await stores.tokens.find("hash-zz") is None
    with pytest.raises(Conflict):
        await stores.tokens.add(refresh("t1", token_hash="other"))
    with pytest.raises(Conflict):
        await stores.tokens.add(refresh("t2", token_hash="hash-t1"))


async def test_refresh_rotate_once(stores: Stores) -> None:
    await stores.tokens.add(refresh("t1"))
    at = T0 + timedelta(minutes=10)
    assert await stores.tokens.rotate("t1", at, refresh("t2", issued_at=at))
    assert not await stores.tokens.rotate("t1", at, refresh("t3", issued_at=at))
    used = await stores.tokens.find("hash-t1")
    assert used is not None
    assert used.used_at == at
    assert await stores.tokens.find("hash-t2") == refresh("t2", issued_at=at)
    assert await stores.tokens.find("hash-t3") is None
    assert not await stores.tokens.rotate("missing", at, refresh("t4"))
    assert await stores.tokens.find("hash-t4") is None


async def test_concurrent_rotations_only_one_wins(stores: Stores) -> None:
    await stores.tokens.add(refresh("t1"))
    results = await asyncio.gather(
        *(stores.tokens.rotate("t1", T0, refresh(f"n{i}")) for i in range(5))
    )
    assert sorted(results) == [False] * 4 + [True]


async def test_refresh_revoke_family_and_user(stores: Stores) -> None:
    await stores.tokens.add(refresh("a1", "fa"))
    await stores.tokens.add(refresh("a2", "fa"))
    await stores.tokens.add(refresh("b1", "fb"))
    await stores.tokens.add(refresh("c1", "fc", uid="u2"))
    at = T0 + timedelta(hours=1)
    assert await stores.tokens.revoke_family("fa", at) == 2
    assert await stores.tokens.revoke_family("fa", at + timedelta(hours=1)) == 0
    a1 = await stores.tokens.find("hash-a1")
    assert a1 is not None
    assert a1.revoked_at == at
    assert not await stores.tokens.rotate("a2", at, refresh("a3", "fa"))
    assert await stores.tokens.revoke_user("u1", at) == 1  # b1; a1, a2 were revoked already
    c1 = await stores.tokens.find("hash-c1")
    assert c1 is not None
    assert c1.revoked_at is None


async def test_session_active_until_its_family_is_revoked(stores: Stores) -> None:
    assert not await stores.tokens.session_active("fa")  # no such session
    await stores.tokens.add(refresh("a1", "fa"))
    await stores.tokens.add(refresh("b1", "fb"))
    assert await stores.tokens.session_active("fa")
    at = T0 + timedelta(minutes=5)
    assert await stores.tokens.rotate("a1", at, refresh("a2", "fa", issued_at=at))
    assert await stores.tokens.session_active("fa")  # a rotation keeps the session
    await stores.tokens.revoke_family("fa", at)
    assert not await stores.tokens.session_active("fa")
    assert await stores.tokens.session_active("fb")
    await stores.tokens.revoke_user("u1", at)
    assert not await stores.tokens.session_active("fb")


async def test_refresh_purge_expired(stores: Stores) -> None:
    await stores.tokens.add(refresh("old", expires_at=T0 + timedelta(hours=1)))
    await stores.tokens.add(refresh("new", expires_at=T0 + timedelta(days=2)))
    assert await stores.tokens.purge_expired(T0 + timedelta(days=1)) == 1
    assert await stores.tokens.find("hash-old") is None
    assert await stores.tokens.find("hash-new") is not None


# ---- audit log -----------------------------------------------------------------------------


def event(minute: int, **kw: object) -> AuditEvent:
    fields: dict[str, object] = {
        "at": T0 + timedelta(minutes=minute),
        "actor": "user:u1",
        "action": "auth.login",
        "outcome": AuditOutcome.SUCCESS,
        "target": None,
        "client_address": "10.0.0.1",
        "detail": None,
    }
    fields.update(kw)
    return AuditEvent(**fields)  # type: ignore[arg-type]


async def test_audit_append_returns_increasing_seq_and_round_trips(stores: Stores) -> None:
    first = event(0, detail="ok", target="user:u1")
    seqs = [await stores.audit.append(first)]
    for minute in range(1, 5):
        seqs.append(await stores.audit.append(event(minute)))
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 5
    entries = await stores.audit.query(AuditQuery())
    assert [e.seq for e in entries] == seqs[::-1]
    assert entries[-1].event == first


async def test_audit_query_filters_and_pages(stores: Stores) -> None:
    await stores.audit.append(event(0))
    await stores.audit.append(
        event(
            1,
            action="users.disable",
            target="user:u2",
            outcome=AuditOutcome.DENIED,
            actor="user:u9",
        )
    )
    await stores.audit.append(event(2, action="auth.logout"))
    await stores.audit.append(event(3, action="authx.other"))
    auth = await stores.audit.query(AuditQuery(action="auth"))
    assert [e.event.action for e in auth] == ["auth.logout", "auth.login"]
    denied = await stores.audit.query(AuditQuery(outcome=AuditOutcome.DENIED))
    assert [e.event.target for e in denied] == ["user:u2"]
    assert len(await stores.audit.query(AuditQuery(actor="user:u9"))) == 1
    assert len(await stores.audit.query(AuditQuery(target="user:u2"))) == 1
    window = await stores.audit.query(
        AuditQuery(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    )
    assert [e.event.action for e in window] == ["auth.logout", "users.disable"]
    page1 = await stores.audit.query(AuditQuery(limit=2))
    page2 = await stores.audit.query(AuditQuery(limit=2, before_seq=page1[-1].seq))
    assert [e.event.action for e in page1 + page2] == [
        "authx.other",
        "auth.logout",
        "users.disable",
        "auth.login",
    ]


async def test_audit_log_has_no_way_to_change_history(stores: Stores) -> None:
    public = {name for name in dir(stores.audit) if not name.startswith("_")}
    assert public == {"append", "query"}


async def test_times_round_trip_to_the_microsecond(stores: Stores) -> None:
    moment = datetime(2031, 7, 1, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=2)))
    await stores.users.add(user("u1", "alice", created_at=moment), "h")
    assert (await stores.users.get("u1")).created_at == moment
    await stores.audit.append(event(0, at=moment))
    assert (await stores.audit.query(AuditQuery()))[0].event.at == moment


# ---- SQLite specifics (not part of the port contract) --------------------------------------


async def test_sqlite_audit_log_refuses_update_and_delete_even_in_sql(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "arbx.sqlite")
    async with database:
        log = SqliteAuditLog(database)
        await log.append(event(0))
        for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(StorageError, match="append-only"):
                await database.run(lambda conn, sql=sql: conn.execute(sql))
        assert len(await log.query(AuditQuery())) == 1


async def test_sqlite_stores_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "arbx.sqlite"
    async with SqliteDatabase(path) as database:
        await SqliteUserStore(database).add(user("u1", "alice", Role.ADMIN), "h")
        await SqliteRefreshTokenStore(database).add(refresh("t1"))
    async with SqliteDatabase(path) as database:
        assert await SqliteUserStore(database).count_active_admins() == 1
        assert await SqliteRefreshTokenStore(database).find("hash-t1") == refresh("t1")
