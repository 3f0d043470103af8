"""The policy: permissions, scopes, ownership and sharing."""

from __future__ import annotations

import pytest

from arbx.domain.auth import (
    Permission,
    Principal,
    PrincipalKind,
    Resource,
    Role,
    can,
    decide,
    require,
)
from arbx.domain.errors import Forbidden, Unauthenticated

P = Permission


def who(*roles: Role, user_id: str = "u-alice", scopes: set[Permission] | None = None) -> Principal:
    return Principal(
        kind=PrincipalKind.USER,
        user_id=user_id,
        username=user_id.removeprefix("u-"),
        roles=frozenset(roles),
        scopes=None if scopes is None else frozenset(scopes),
    )


ALICE = who(Role.ANALYST)
BOB_OWNS = Resource(owner_id="u-bob")
BOB_SHARED = Resource(owner_id="u-bob", shared=True)
ALICE_OWNS = Resource(owner_id="u-alice")


def test_anonymous_is_denied_and_require_says_authenticate() -> None:
    assert not can(None, P.DATA_READ)
    with pytest.raises(Unauthenticated):
        require(None, P.DATA_READ)


def test_missing_permission_is_forbidden_with_its_name() -> None:
    viewer = who(Role.VIEWER)
    assert not can(viewer, P.BACKTESTS_RUN)
    with pytest.raises(Forbidden, match="backtests:run"):
        require(viewer, P.BACKTESTS_RUN)


def test_analyst_edits_own_strategy_but_not_anothers() -> None:
    assert can(ALICE, P.STRATEGIES_WRITE, ALICE_OWNS)
    assert not can(ALICE, P.STRATEGIES_WRITE, BOB_OWNS)
    # sharing a strategy lets others read it, never edit it
    assert not can(ALICE, P.STRATEGIES_WRITE, BOB_SHARED)
    with pytest.raises(Forbidden, match="owner"):
        require(ALICE, P.STRATEGIES_WRITE, BOB_OWNS)


def test_analyst_sees_shared_and_own_results_only() -> None:
    assert can(ALICE, P.RESULTS_READ, ALICE_OWNS)
    assert can(ALICE, P.RESULTS_READ, BOB_SHARED)
    assert not can(ALICE, P.RESULTS_READ, BOB_OWNS)


def test_viewer_reads_shared_results_and_strategies() -> None:
    viewer = who(Role.VIEWER, user_id="u-vera")
    assert can(viewer, P.RESULTS_READ, BOB_SHARED)
    assert can(viewer, P.STRATEGIES_READ, BOB_SHARED)
    assert not can(viewer, P.STRATEGIES_READ, BOB_OWNS)
    assert not can(viewer, P.STRATEGIES_WRITE, Resource(owner_id="u-vera"))


def test_admin_overrides_ownership() -> None:
    admin = who(Role.ADMIN, user_id="u-root")
    for permission in (P.STRATEGIES_WRITE, P.STRATEGIES_READ, P.RESULTS_READ, P.API_KEYS_WRITE):
        decision = decide(admin, permission, BOB_OWNS)
        assert decision.allowed, permission
        assert "_any" in decision.reason


def test_operator_has_no_ownership_override() -> None:
    operator = who(Role.OPERATOR, user_id="u-otto")
    assert can(operator, P.INGEST_RUN)
    assert not can(operator, P.STRATEGIES_WRITE, BOB_OWNS)
    assert not can(operator, P.API_KEYS_WRITE, BOB_OWNS)


def test_unowned_permission_ignores_resource() -> None:
    operator = who(Role.OPERATOR, user_id="u-otto")
    assert can(operator, P.JOBS_MANAGE, BOB_OWNS)


def test_scopes_narrow_but_never_widen() -> None:
    scoped = who(Role.OPERATOR, scopes={P.DATA_READ, P.USERS_MANAGE})
    assert scoped.permissions == {P.DATA_READ}
    assert can(scoped, P.DATA_READ)
    assert not can(scoped, P.INGEST_RUN)
    assert not can(scoped, P.USERS_MANAGE)


def test_api_key_principal_acts_for_its_owner() -> None:
    key = Principal(
        kind=PrincipalKind.API_KEY,
        user_id="u-alice",
        username="alice",
        roles=frozenset({Role.ANALYST}),
        api_key_id="k1",
    )
    assert key.actor == "api_key:k1"
    assert ALICE.actor == "user:u-alice"
    assert can(key, P.STRATEGIES_WRITE, ALICE_OWNS)
    assert not can(key, P.STRATEGIES_WRITE, BOB_OWNS)
