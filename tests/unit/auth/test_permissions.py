"""The permission matrix: every role x every permission, written out so a change is seen."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbx.domain.auth import ROLE_PERMISSIONS, Permission, Role, permissions_of
from arbx.domain.errors import InvalidInput

P = Permission
V, A, OP, AD = Role.VIEWER, Role.ANALYST, Role.OPERATOR, Role.ADMIN

# The expected matrix, spelled out independently of the code under test.
EXPECTED: dict[Permission, set[Role]] = {
    P.DATA_READ: {V, A, OP, AD},
    P.QUALITY_READ: {V, A, OP, AD},
    P.RESULTS_READ: {V, A, OP, AD},
    P.STRATEGIES_READ: {V, A, OP, AD},
    P.EXCHANGES_READ: {V, A, OP, AD},
    P.BACKTESTS_RUN: {A, OP, AD},
    P.STRATEGIES_WRITE: {A, OP, AD},
    P.API_KEYS_WRITE: {A, OP, AD},
    P.DATA_WRITE: {OP, AD},
    P.QUALITY_REPAIR: {OP, AD},
    P.INGEST_RUN: {OP, AD},
    P.JOBS_READ: {OP, AD},
    P.JOBS_MANAGE: {OP, AD},
    P.OBSERVABILITY_READ: {OP, AD},
    P.ALERTS_MANAGE: {OP, AD},
    P.RESULTS_READ_ANY: {AD},
    P.STRATEGIES_WRITE_ANY: {AD},
    P.API_KEYS_WRITE_ANY: {AD},
    P.USERS_MANAGE: {AD},
    P.AUDIT_READ: {AD},
}


def test_expected_table_covers_every_permission() -> None:
    assert set(EXPECTED) == set(Permission)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_matrix_cell(role: Role, permission: Permission) -> None:
    assert (permission in ROLE_PERMISSIONS[role]) == (role in EXPECTED[permission])


def test_roles_are_cumulative() -> None:
    assert ROLE_PERMISSIONS[V] < ROLE_PERMISSIONS[A] < ROLE_PERMISSIONS[OP] < ROLE_PERMISSIONS[AD]
    assert ROLE_PERMISSIONS[AD] == frozenset(Permission)


def test_matrix_is_read_only() -> None:
    with pytest.raises(TypeError):
        ROLE_PERMISSIONS[V] = frozenset()  # type: ignore[index]


@given(st.sets(st.sampled_from(list(Role))))
def test_permissions_of_is_the_union(roles: set[Role]) -> None:
    union: set[Permission] = set()
    for role in roles:
        union |= ROLE_PERMISSIONS[role]
    assert permissions_of(roles) == union


def test_parse_role_and_permission() -> None:
    assert Role.parse(" Analyst ") is A
    assert Role.parse_many(["viewer", "admin"]) == {V, AD}
    assert Permission.parse("data:read") is P.DATA_READ
    with pytest.raises(InvalidInput) as err:
        Role.parse("root")
    assert err.value.field == "roles"
    assert "viewer" in err.value.message
    with pytest.raises(InvalidInput) as perr:
        Permission.parse("data:everything")
    assert perr.value.field == "scopes"
