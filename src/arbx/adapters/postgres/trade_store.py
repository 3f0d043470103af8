"""TradeStore on PostgreSQL: the ``trades`` table (0014_trades; a hypertable on ts where
TimescaleDB is used, see ``timescale.py``).

A write validates the frame first (``InvalidInput``, nothing stored), then, in one
transaction, copies it into a temporary table and inserts the trade ids the pair does not
hold yet (the first row of an id wins within a frame; a stored trade is never replaced).
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.identifiers import SchemaTables
from arbx.domain.market import Symbol, TimeSpan
from arbx.domain.market.trades import TRADE_SCHEMA, TradeKey, check_trades, empty_trades
from arbx.ports.trade_store import TradeStore

_STAGING = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS trades_incoming (n bigint, trade_id text COLLATE"
    ' "C", ts timestamptz, price double precision, qty double precision, side text)'
    " ON COMMIT DELETE ROWS"
)


class PostgresTradeStore(TradeStore):
    def __init__(self, pool: AsyncConnectionPool, schema: str) -> None:
        self._pool = pool
        self._t = SchemaTables(schema, "trades")

    async def write(self, key: TradeKey, trades: pl.DataFrame) -> int:
        check_trades(trades)
        if trades.is_empty():
            return 0
        rows = trades.with_row_index("n").select(
            "n", "trade_id", pl.col("ts"), "price", "qty", "side"
        )
        with storage_errors(f"write trades of {key}"):
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(_STAGING)
                async with conn.cursor().copy(
                    "COPY trades_incoming (n, trade_id, ts, price, qty, side) FROM STDIN"
                ) as copy:
                    for row in rows.iter_rows():
                        await copy.write_row(row)
                cur = await conn.execute(
                    self._t.sql(
                        "INSERT INTO {trades} (venue, symbol, trade_id, ts, price, qty, side)"
                        " SELECT %s, %s, i.trade_id, i.ts, i.price, i.qty, i.side FROM"
                        " (SELECT DISTINCT ON (trade_id) * FROM trades_incoming"
                        "  ORDER BY trade_id, n) AS i"
                        " WHERE NOT EXISTS (SELECT 1 FROM {trades} AS t WHERE t.venue = %s"
                        "  AND t.symbol = %s AND t.trade_id = i.trade_id)"
                        " ON CONFLICT DO NOTHING"
                    ),
                    (key.venue, str(key.symbol), key.venue, str(key.symbol)),
                )
                return max(cur.rowcount, 0)

    async def read(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        with storage_errors(f"read trades of {key}"):
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    self._t.sql(
                        "SELECT trade_id, ts, price, qty, side FROM {trades} WHERE venue = %s"
                        " AND symbol = %s AND ts >= %s AND ts < %s ORDER BY ts, trade_id"
                    ),
                    (key.venue, str(key.symbol), span.start, span.end),
                )
                rows = await cur.fetchall()
        if not rows:
            return empty_trades()
        frame = pl.DataFrame(
            {
                "trade_id": [r[0] for r in rows],
                "ts": [_utc(r[1]) for r in rows],
                "price": [r[2] for r in rows],
                "qty": [r[3] for r in rows],
                "side": [r[4] for r in rows],
            },
            schema=TRADE_SCHEMA,
        )
        return frame

    async def keys(self) -> list[TradeKey]:
        with storage_errors("list trade pairs"):
            async with self._pool.connection() as conn:
                cur = await conn.execute(self._t.sql("SELECT DISTINCT venue, symbol FROM {trades}"))
                rows = await cur.fetchall()
        keys = [TradeKey(str(venue), Symbol.parse(str(symbol))) for venue, symbol in rows]
        return sorted(keys, key=lambda k: (k.venue, k.symbol))


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
