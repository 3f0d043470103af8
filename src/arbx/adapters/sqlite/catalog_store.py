"""CatalogStore on SQLite (tables of migration 0009_strategy_catalog)."""

from __future__ import annotations

import builtins
import sqlite3
from typing import Any

import msgspec

from arbx.adapters.sqlite.codecs import from_micros, to_micros
from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.domain.catalog import StateChange, StrategyDefinition, StrategyVersion
from arbx.domain.errors import Conflict, NotFound, StorageError
from arbx.ports.catalog_store import CatalogStore

_DEF_COLUMNS = "id, name, owner, shared, current, created_at"
_ENCODER = msgspec.json.Encoder()
_VERSION = msgspec.json.Decoder(StrategyVersion)
_CHANGE = msgspec.json.Decoder(StateChange)


def _definition(row: sqlite3.Row) -> StrategyDefinition:
    return StrategyDefinition(
        id=row["id"],
        name=row["name"],
        owner=row["owner"],
        shared=bool(row["shared"]),
        current=row["current"],
        created_at=from_micros(row["created_at"]),
    )


def _decode(decoder: msgspec.json.Decoder[Any], text: str, what: str) -> Any:
    try:
        return decoder.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(f"stored {what} cannot be read: {exc}") from exc


def _get(conn: sqlite3.Connection, column: str, value: str) -> StrategyDefinition:
    row = conn.execute(
        f"SELECT {_DEF_COLUMNS} FROM strategy_definitions WHERE {column} = ?", (value,)
    ).fetchone()
    if row is None:
        raise NotFound(f"strategy {value!r} does not exist")
    return _definition(row)


def _version(conn: sqlite3.Connection, definition_id: str, number: int) -> StrategyVersion:
    row = conn.execute(
        "SELECT doc FROM strategy_versions WHERE definition_id = ? AND number = ?",
        (definition_id, number),
    ).fetchone()
    if row is None:
        raise NotFound(f"strategy {definition_id!r} has no version {number}")
    decoded: StrategyVersion = _decode(_VERSION, row["doc"], f"version {number}")
    return decoded


def _insert_version(conn: sqlite3.Connection, version: StrategyVersion) -> None:
    conn.execute(
        "INSERT INTO strategy_versions (definition_id, number, state, doc) VALUES (?, ?, ?, ?)",
        (
            version.definition_id,
            version.number,
            version.state.value,
            _ENCODER.encode(version).decode(),
        ),
    )


class SqliteCatalogStore(CatalogStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def create(self, definition: StrategyDefinition, first: StrategyVersion) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    f"INSERT INTO strategy_definitions ({_DEF_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        definition.id,
                        definition.name,
                        definition.owner,
                        int(definition.shared),
                        first.number,
                        to_micros(definition.created_at),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                taken = conn.execute(
                    "SELECT id FROM strategy_definitions WHERE name = ?", (definition.name,)
                ).fetchone()
                what = f"name {definition.name!r} is taken" if taken else "id exists already"
                raise Conflict(f"strategy {what}") from exc
            _insert_version(conn, first)

        await self._db.run(insert)

    async def add_version(self, version: StrategyVersion) -> StrategyDefinition:
        def insert(conn: sqlite3.Connection) -> StrategyDefinition:
            found = _get(conn, "id", version.definition_id)
            cursor = conn.execute(
                "UPDATE strategy_definitions SET current = ? WHERE id = ? AND current = ?",
                (version.number, found.id, version.number - 1),
            )
            if cursor.rowcount != 1:
                raise Conflict(
                    f"strategy {found.name!r} is at version {found.current}, not"
                    f" {version.number - 1}: another change came first; reload and retry"
                )
            _insert_version(conn, version)
            return msgspec.structs.replace(found, current=version.number)

        return await self._db.run(insert)

    async def get(self, definition_id: str) -> StrategyDefinition:
        return await self._db.run(lambda conn: _get(conn, "id", definition_id))

    async def find(self, name: str) -> StrategyDefinition:
        return await self._db.run(lambda conn: _get(conn, "name", name))

    async def list(
        self, *, owner: str | None = None, readable_by: str | None = None
    ) -> builtins.list[StrategyDefinition]:
        where, params = ["1 = 1"], []
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        if readable_by is not None:
            where.append("(owner = ? OR shared = 1)")
            params.append(readable_by)
        sql = (
            f"SELECT {_DEF_COLUMNS} FROM strategy_definitions WHERE {' AND '.join(where)}"
            " ORDER BY name"
        )
        rows = await self._db.run(lambda conn: conn.execute(sql, params).fetchall())
        return [_definition(row) for row in rows]

    async def versions(self, definition_id: str) -> builtins.list[StrategyVersion]:
        def select(conn: sqlite3.Connection) -> builtins.list[sqlite3.Row]:
            _get(conn, "id", definition_id)
            return conn.execute(
                "SELECT doc FROM strategy_versions WHERE definition_id = ? ORDER BY number",
                (definition_id,),
            ).fetchall()

        return [_decode(_VERSION, row["doc"], "version") for row in await self._db.run(select)]

    async def version(self, definition_id: str, number: int) -> StrategyVersion:
        return await self._db.run(lambda conn: _version(conn, definition_id, number))

    async def set_state(self, updated: StrategyVersion, change: StateChange) -> None:
        def apply(conn: sqlite3.Connection) -> None:
            stored = _version(conn, updated.definition_id, updated.number)
            merged = msgspec.structs.replace(
                stored,
                state=updated.state,
                walk_forward=updated.walk_forward,
                approved_by=updated.approved_by,
            )
            cursor = conn.execute(
                "UPDATE strategy_versions SET state = ?, doc = ?"
                " WHERE definition_id = ? AND number = ? AND state = ?",
                (
                    merged.state.value,
                    _ENCODER.encode(merged).decode(),
                    merged.definition_id,
                    merged.number,
                    change.before.value,
                ),
            )
            if cursor.rowcount != 1:
                raise Conflict(
                    f"v{stored.number} is {stored.state} now, not {change.before}; reload and retry"
                )
            conn.execute(
                "INSERT INTO strategy_state_changes (definition_id, number, doc) VALUES (?, ?, ?)",
                (change.definition_id, change.number, _ENCODER.encode(change).decode()),
            )

        await self._db.run(apply)

    async def history(self, definition_id: str) -> builtins.list[StateChange]:
        def select(conn: sqlite3.Connection) -> builtins.list[sqlite3.Row]:
            _get(conn, "id", definition_id)
            return conn.execute(
                "SELECT doc FROM strategy_state_changes WHERE definition_id = ? ORDER BY seq",
                (definition_id,),
            ).fetchall()

        return [_decode(_CHANGE, row["doc"], "state change") for row in await self._db.run(select)]
