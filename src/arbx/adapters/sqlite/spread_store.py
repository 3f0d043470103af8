"""SpreadStore on SQLite (table ``spread_opportunities``, 0015_spreads)."""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec

from arbx.adapters.sqlite.database import SqliteDatabase
from arbx.domain.errors import StorageError
from arbx.domain.streams.spreads import SpreadOpportunity
from arbx.ports.spread_store import SpreadStore

_DECODER = msgspec.json.Decoder(SpreadOpportunity)
_ENCODER = msgspec.json.Encoder()


def _opportunity(row: sqlite3.Row) -> SpreadOpportunity:
    try:
        return _DECODER.decode(row["body"])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StorageError(
            f"stored spread opportunity {row['id']!r} cannot be read: {exc}"
        ) from exc


def _where(pair: str | None, start_us: int | None, end_us: int | None) -> tuple[str, list[Any]]:
    clauses, args = [], []
    for clause, value in (
        ("pair = ?", pair),
        ("start_us >= ?", start_us),
        ("start_us < ?", end_us),
    ):
        if value is not None:
            clauses.append(clause)
            args.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


class SqliteSpreadStore(SpreadStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def record(self, opportunities: Sequence[SpreadOpportunity]) -> int:
        rows = [(o.id, o.pair, o.start_us, _ENCODER.encode(o).decode()) for o in opportunities]

        def insert(conn: sqlite3.Connection) -> int:
            new = 0
            for row in rows:
                cur = conn.execute(
                    "INSERT INTO spread_opportunities (id, pair, start_us, body)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                    row,
                )
                new += cur.rowcount
            return new

        return await self._db.run(insert) if rows else 0

    async def history(
        self,
        *,
        pair: str | None = None,
        start_us: int | None = None,
        end_us: int | None = None,
        limit: int = 100,
    ) -> builtins.list[SpreadOpportunity]:
        where, args = _where(pair, start_us, end_us)
        rows = await self._db.run(
            lambda conn: conn.execute(
                f"SELECT id, body FROM spread_opportunities{where}"
                " ORDER BY start_us DESC, id DESC LIMIT ?",
                (*args, max(0, limit)),
            ).fetchall()
        )
        return [_opportunity(row) for row in rows]
