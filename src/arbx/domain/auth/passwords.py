"""The password policy: what a new password must satisfy.

Length is what matters most (NIST SP 800-63B); on top we refuse passwords made of one
character class only, passwords that contain the username, one repeated character and a few
notorious ones. Messages never echo the password.
"""

from __future__ import annotations

import string

from arbx.domain.errors import InvalidInput

MIN_LENGTH = 12
MAX_LENGTH = 256  # hashing cost stays bounded; passphrases still fit

_COMMON = frozenset(
    {
        "password1234",
        "password12345",
        "password123456",
        "123456789012",
        "1234567890123",
        "qwerty123456",
        "qwertyuiop123",
        "iloveyou1234",
        "administrator",
        "administrator1",
        "letmein12345",
        "welcome12345",
        "changeme1234",
        "passw0rdpassw0rd",
    }
)


PASSWORD_POLICY = (
    f"needs {MIN_LENGTH} to {MAX_LENGTH} characters of at least two kinds (lower case, upper"
    " case, digits, symbols), without the username, one repeated character or a common"
    " password"
)
"""The rules of ``password_problems`` in one sentence, to show before a password is asked."""


def _classes(password: str) -> int:
    lower = any(c.islower() for c in password)
    upper = any(c.isupper() for c in password)
    digit = any(c.isdigit() for c in password)
    other = any(not c.isalnum() or c in string.punctuation for c in password)
    return sum((lower, upper, digit, other))


def password_problems(password: str, *, username: str | None = None) -> list[str]:
    """Every rule ``password`` breaks (empty when it is acceptable)."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters long")
    if password and len(set(password)) == 1:
        problems.append("must not repeat one character")
    elif password and _classes(password) < 2:
        problems.append(
            "must mix at least two kinds of characters (lower case, upper case, digits, symbols)"
        )
    if username and username.strip() and username.strip().lower() in password.lower():
        problems.append("must not contain the username")
    if password.lower() in _COMMON:
        problems.append("is a commonly used password")
    return problems


def check_password(password: str, *, username: str | None = None) -> None:
    """Raise ``InvalidInput(field="password")`` listing every broken rule."""
    problems = password_problems(password, username=username)
    if problems:
        raise InvalidInput("password " + "; ".join(problems), field="password", details=problems)
