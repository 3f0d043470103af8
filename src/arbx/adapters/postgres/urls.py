"""Connection URLs fit for logs and messages (no driver import: settings use it too)."""

from __future__ import annotations

import re

_PASSWORD_RE = re.compile(r"(password\s*=\s*)\S+|(://[^:/@\s]+:)[^@\s]*(?=@)")


def redact(url: str) -> str:
    """A connection URL or conninfo fit for logs and messages: the password is masked."""
    return _PASSWORD_RE.sub(lambda m: (m.group(1) or m.group(2)) + "***", url)
