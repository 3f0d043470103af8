"""CatalogStore on PostgreSQL (tables of migration 0009_strategy_catalog)."""

from __future__ import annotations

import builtins
from typing import Any

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.codecs import as_utc
from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.identifiers import SchemaTables
from arbx.domain.catalog import StateChange, StrategyDefinition, StrategyVersion
from arbx.domain.errors import Conflict, NotFound, StorageError
from arbx.ports.catalog_store import CatalogStore

Conn = psycopg.AsyncConnection[Any]

_DEF_COLUMNS = "id, name, owner, shared, current, created_at"
_ENCODER = msgspec.json.Encoder()
_VERSION = msgspec.json.Decoder(StrategyVersion)
_CHANGE = msgspec.json.Decoder(StateChange)


def _definition(row: tuple[Any, ...]) -> StrategyDefinition:
    def_id, name, owner, shared, current, created = row
    return StrategyDefinition(
        id=def_id,
        name=name,
        owner=owner,
        shared=bool(shared),
        current=int(current),
        created_at=as_utc(created),
    )


def _decode(decoder: msgspec.json.Decoder[Any], text: str, what: str) -> Any:
    try:
        return decoder.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(f"stored {what} cannot be read: {exc}") from exc


class PostgresCatalogStore(CatalogStore):
    def __init__(self, pool: AsyncConnectionPool, schema: str) -> None:
        self._pool = pool
        self._t = SchemaTables(
            schema, "strategy_definitions", "strategy_versions", "strategy_state_changes"
        )

    async def _get(self, conn: Conn, column: str, value: str) -> StrategyDefinition:
        cur = await conn.execute(
            self._t.sql(f"SELECT {_DEF_COLUMNS} FROM {{strategy_definitions}} WHERE {column} = %s"),
            (value,),
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"strategy {value!r} does not exist")
        return _definition(row)

    async def _version(self, conn: Conn, definition_id: str, number: int) -> StrategyVersion:
        cur = await conn.execute(
            self._t.sql(
                "SELECT doc::text FROM {strategy_versions} WHERE definition_id = %s AND number = %s"
            ),
            (definition_id, number),
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"strategy {definition_id!r} has no version {number}")
        found: StrategyVersion = _decode(_VERSION, row[0], f"version {number}")
        return found

    async def _insert_version(self, conn: Conn, version: StrategyVersion) -> None:
        await conn.execute(
            self._t.sql(
                "INSERT INTO {strategy_versions} (definition_id, number, state, doc)"
                " VALUES (%s, %s, %s, %s::jsonb)"
            ),
            (
                version.definition_id,
                version.number,
                version.state.value,
                _ENCODER.encode(version).decode(),
            ),
        )

    async def create(self, definition: StrategyDefinition, first: StrategyVersion) -> None:
        with storage_errors(f"create strategy {definition.name!r}"):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    await conn.execute(
                        self._t.sql(
                            f"INSERT INTO {{strategy_definitions}} ({_DEF_COLUMNS})"
                            " VALUES (%s, %s, %s, %s, %s, %s)"
                        ),
                        (
                            definition.id,
                            definition.name,
                            definition.owner,
                            definition.shared,
                            first.number,
                            definition.created_at,
                        ),
                    )
                    await self._insert_version(conn, first)
            except psycopg.errors.UniqueViolation as exc:
                if exc.diag.constraint_name == "strategy_definitions_name_key":
                    raise Conflict(f"strategy name {definition.name!r} is taken") from exc
                raise Conflict(f"strategy id {definition.id!r} exists already") from exc

    async def add_version(self, version: StrategyVersion) -> StrategyDefinition:
        with storage_errors(f"add version {version.number} to {version.definition_id!r}"):
            async with self._pool.connection() as conn, conn.transaction():
                found = await self._get(conn, "id", version.definition_id)
                cur = await conn.execute(
                    self._t.sql(
                        "UPDATE {strategy_definitions} SET current = %s"
                        " WHERE id = %s AND current = %s"
                    ),
                    (version.number, found.id, version.number - 1),
                )
                if cur.rowcount != 1:
                    raise Conflict(
                        f"strategy {found.name!r} is at version {found.current}, not"
                        f" {version.number - 1}: another change came first; reload and retry"
                    )
                await self._insert_version(conn, version)
                return msgspec.structs.replace(found, current=version.number)

    async def get(self, definition_id: str) -> StrategyDefinition:
        with storage_errors(f"read strategy {definition_id!r}"):
            async with self._pool.connection() as conn:
                return await self._get(conn, "id", definition_id)

    async def find(self, name: str) -> StrategyDefinition:
        with storage_errors(f"read strategy {name!r}"):
            async with self._pool.connection() as conn:
                return await self._get(conn, "name", name)

    async def list(
        self, *, owner: str | None = None, readable_by: str | None = None
    ) -> builtins.list[StrategyDefinition]:
        where, params = ["TRUE"], []
        if owner is not None:
            where.append("owner = %s")
            params.append(owner)
        if readable_by is not None:
            where.append("(owner = %s OR shared)")
            params.append(readable_by)
        text = (
            f"SELECT {_DEF_COLUMNS} FROM {{strategy_definitions}} WHERE {' AND '.join(where)}"
            " ORDER BY name"
        )
        with storage_errors("list strategies"):
            async with self._pool.connection() as conn:
                cur = await conn.execute(self._t.sql(text), params)
                return [_definition(row) for row in await cur.fetchall()]

    async def versions(self, definition_id: str) -> builtins.list[StrategyVersion]:
        with storage_errors(f"read versions of {definition_id!r}"):
            async with self._pool.connection() as conn:
                await self._get(conn, "id", definition_id)
                cur = await conn.execute(
                    self._t.sql(
                        "SELECT doc::text FROM {strategy_versions} WHERE definition_id = %s"
                        " ORDER BY number"
                    ),
                    (definition_id,),
                )
                return [_decode(_VERSION, row[0], "version") for row in await cur.fetchall()]

    async def version(self, definition_id: str, number: int) -> StrategyVersion:
        with storage_errors(f"read version {number} of {definition_id!r}"):
            async with self._pool.connection() as conn:
                return await self._version(conn, definition_id, number)

    async def set_state(self, updated: StrategyVersion, change: StateChange) -> None:
        with storage_errors(f"change the state of {updated.definition_id!r} v{updated.number}"):
            async with self._pool.connection() as conn, conn.transaction():
                stored = await self._version(conn, updated.definition_id, updated.number)
                merged = msgspec.structs.replace(
                    stored,
                    state=updated.state,
                    walk_forward=updated.walk_forward,
                    approved_by=updated.approved_by,
                )
                cur = await conn.execute(
                    self._t.sql(
                        "UPDATE {strategy_versions} SET state = %s, doc = %s::jsonb"
                        " WHERE definition_id = %s AND number = %s AND state = %s"
                    ),
                    (
                        merged.state.value,
                        _ENCODER.encode(merged).decode(),
                        merged.definition_id,
                        merged.number,
                        change.before.value,
                    ),
                )
                if cur.rowcount != 1:
                    raise Conflict(
                        f"v{stored.number} is {stored.state} now, not {change.before};"
                        " reload and retry"
                    )
                await conn.execute(
                    self._t.sql(
                        "INSERT INTO {strategy_state_changes} (definition_id, number, doc)"
                        " VALUES (%s, %s, %s::jsonb)"
                    ),
                    (change.definition_id, change.number, _ENCODER.encode(change).decode()),
                )

    async def history(self, definition_id: str) -> builtins.list[StateChange]:
        with storage_errors(f"read the state history of {definition_id!r}"):
            async with self._pool.connection() as conn:
                await self._get(conn, "id", definition_id)
                cur = await conn.execute(
                    self._t.sql(
                        "SELECT doc::text FROM {strategy_state_changes} WHERE definition_id = %s"
                        " ORDER BY seq"
                    ),
                    (definition_id,),
                )
                return [_decode(_CHANGE, row[0], "state change") for row in await cur.fetchall()]
