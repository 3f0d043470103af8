"""SpreadStore on PostgreSQL: ``spread_opportunities`` (0015_spreads)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.identifiers import SchemaTables
from arbx.domain.errors import StorageError
from arbx.domain.streams.spreads import SpreadOpportunity
from arbx.ports.spread_store import SpreadStore

_DECODER = msgspec.json.Decoder(SpreadOpportunity)
_ENCODER = msgspec.json.Encoder()


class PostgresSpreadStore(SpreadStore):
    def __init__(self, pool: AsyncConnectionPool, schema: str) -> None:
        self._pool = pool
        self._t = SchemaTables(schema, "spread_opportunities")

    async def record(self, opportunities: Sequence[SpreadOpportunity]) -> int:
        if not opportunities:
            return 0
        new = 0
        with storage_errors("record spread opportunities"):
            async with self._pool.connection() as conn, conn.transaction():
                for o in opportunities:
                    cur = await conn.execute(
                        self._t.sql(
                            "INSERT INTO {spread_opportunities} (id, pair, start_us, body)"
                            " VALUES (%s, %s, %s, %s::jsonb) ON CONFLICT (id) DO NOTHING"
                        ),
                        (o.id, o.pair, o.start_us, _ENCODER.encode(o).decode()),
                    )
                    new += cur.rowcount
        return new

    async def history(
        self,
        *,
        pair: str | None = None,
        start_us: int | None = None,
        end_us: int | None = None,
        limit: int = 100,
    ) -> builtins.list[SpreadOpportunity]:
        clauses, args = [], []
        for clause, value in (
            ("pair = %s", pair),
            ("start_us >= %s", start_us),
            ("start_us < %s", end_us),
        ):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        query = (
            "SELECT id, body::text FROM {spread_opportunities}"
            + where
            + " ORDER BY start_us DESC, id DESC LIMIT %s"
        )
        with storage_errors("read spread history"):
            async with self._pool.connection() as conn:
                cur = await conn.execute(self._t.sql(query), [*args, max(0, limit)])
                rows: list[tuple[Any, ...]] = await cur.fetchall()
        out = []
        for row_id, body in rows:
            try:
                out.append(_DECODER.decode(body))
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise StorageError(
                    f"stored spread opportunity {row_id!r} cannot be read: {exc}"
                ) from exc
        return out
