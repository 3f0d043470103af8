"""The password policy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbx.domain.auth import check_password, password_problems
from arbx.domain.errors import InvalidInput


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "Tr0ub4dor&3xx", "ZZ9-plural-z-alpha", "ünïcødé pässwörd 1"],
)
def test_good_passwords_pass(password: str) -> None:
    assert password_problems(password, username="alice") == []
    check_password(password, username="alice")


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("Short1!", "at least 12"),
        ("abcdefghijklmnop", "two kinds"),
        ("ABCDEFGHIJKLMN", "two kinds"),
        ("98765432109876", "two kinds"),
        ("aaaaaaaaaaaaaaaa", "repeat one character"),
        ("my-alice-password", "username"),
        ("MY-ALICE-PASSWORD", "username"),
        ("Password1234", "commonly used"),
        ("x1" * 129, "at most 256"),
    ],
)
def test_bad_passwords_name_the_rule(password: str, fragment: str) -> None:
    problems = password_problems(password, username="Alice")
    assert any(fragment in p for p in problems), problems
    with pytest.raises(InvalidInput) as err:
        check_password(password, username="Alice")
    assert err.value.field == "password"
    assert password not in err.value.message  # never echo the secret


def test_every_broken_rule_is_listed() -> None:
    problems = password_problems("alice", username="alice")
    assert len(problems) == 3  # too short, one class, contains the username


@settings(max_examples=60)
@given(st.text(min_size=0, max_size=40))
def test_accepted_passwords_satisfy_the_rules(password: str) -> None:
    if password_problems(password, username="bob") == []:
        assert len(password) >= 12
        assert len(set(password)) > 1
        assert "bob" not in password.lower()
