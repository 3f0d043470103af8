"""SQL identifiers of the arbx schema: a checked schema name and schema-qualified tables."""

from __future__ import annotations

import re

from psycopg import sql

from arbx.domain.errors import InvalidInput

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema_name(schema: str) -> str:
    """The schema name, or ``InvalidInput`` unless it is a plain lowercase identifier."""
    if not _SCHEMA_RE.match(schema):
        raise InvalidInput(
            f"database schema {schema!r} is not valid; use 1-63 lowercase letters, digits or '_'"
            " starting with a letter or '_', e.g. 'arbx'",
            field="database_schema",
        )
    return schema


class SchemaTables:
    """Schema-qualified identifiers for the tables a store uses, and SQL built from them."""

    def __init__(self, schema: str, *names: str) -> None:
        check_schema_name(schema)
        self.schema = schema
        self._tables = {name: sql.Identifier(schema, name) for name in names}

    def sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(**self._tables)
