"""Numbered SQL migrations: ``NNNN_name.sql`` files in a package directory, applied in order.

A migration is plain SQL (tables, indexes, triggers) without transaction control: the runner
wraps each file in its own transaction together with its row in ``schema_migrations``, so a
failing migration leaves no trace.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from arbx.domain.errors import StorageError

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9][a-z0-9_]*)\.sql$")
_TRANSACTION_CONTROL = re.compile(
    r"^\s*(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]

    @property
    def file_name(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"


def load_migrations(source: str | Path | Traversable) -> list[Migration]:
    """Read the migrations of a package (dotted name) or a directory, sorted by version."""
    folder: Traversable = resources.files(source) if isinstance(source, str) else source
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise StorageError(
                f"migration file {entry.name!r} is not named NNNN_name.sql"
                " (four digits, '_', lowercase letters, digits or '_')"
            )
        version, name = int(match.group(1)), match.group(2)
        if version in found:
            raise StorageError(
                f"migrations {found[version].file_name} and {entry.name} share version {version}"
            )
        statements = split_statements(entry.read_text(encoding="utf-8"))
        for statement in statements:
            if _TRANSACTION_CONTROL.match(_strip_comments(statement)):
                raise StorageError(
                    f"migration {entry.name} controls transactions ({statement.split()[0]});"
                    " remove it: each migration runs in its own transaction"
                )
        found[version] = Migration(version, name, tuple(statements))
    return [found[v] for v in sorted(found)]


def split_statements(script: str) -> list[str]:
    """Cut an SQL script into complete statements (semicolons in strings, comments and
    trigger bodies do not cut)."""
    statements = []
    buffer = ""
    for piece in script.split(";")[:-1]:
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if _strip_comments(buffer).strip(" \t\r\n;"):
                statements.append(buffer.strip())
            buffer = ""
    rest = buffer + script.split(";")[-1]
    if _strip_comments(rest).strip():
        raise StorageError(f"SQL script ends with an incomplete statement: {rest.strip()[:80]!r}")
    return statements


def _strip_comments(sql: str) -> str:
    without_block = re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return "\n".join(line.split("--", 1)[0] for line in without_block.splitlines())
