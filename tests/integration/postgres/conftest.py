"""Fixtures for PostgreSQL integration tests: scratch schemas and raw connections."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest

from tests.support.postgres import PostgresTestDatabase


@pytest.fixture
def scratch_schema(postgres_database: PostgresTestDatabase) -> Iterator[str]:
    """A schema name nobody uses yet; dropped (if created) after the test."""
    schema = postgres_database.new_schema_name("arbx_scratch")
    try:
        yield schema
    finally:
        postgres_database.drop_schema(schema)


@pytest.fixture
async def admin_conn(
    postgres_database: PostgresTestDatabase,
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """An autocommit connection outside any pool: to inspect, lock, or kill other sessions."""
    conn = await psycopg.AsyncConnection.connect(postgres_database.url, autocommit=True)
    try:
        yield conn
    finally:
        await conn.close()
