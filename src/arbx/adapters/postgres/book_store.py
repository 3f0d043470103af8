"""BookStore on PostgreSQL (plain or TimescaleDB): ``quotes`` and ``book_updates`` (0013).

A write checks the whole frame first (an invalid row stores nothing), then in ONE
transaction takes an advisory lock on the (venue, symbol) and kind, and inserts the rows whose
key is not stored yet (``INSERT ... SELECT FROM unnest(...) WHERE NOT EXISTS``, plus ``ON
CONFLICT DO NOTHING``): all or nothing, idempotent, and the count is of new rows. The lock is
what keeps a book row's key unique on the TimescaleDB path, where the unique index without
ts cannot exist; on the plain path the index holds it as well.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from psycopg_pool import AsyncConnectionPool

from arbx.adapters.postgres.errors import storage_errors
from arbx.adapters.postgres.identifiers import SchemaTables
from arbx.domain.market import Symbol, TimeSpan
from arbx.domain.market.books import (
    BOOK_COLUMNS,
    BOOK_KEY,
    BOOK_SCHEMA,
    QUOTE_COLUMNS,
    QUOTE_SCHEMA,
    check_book,
    check_quotes,
)
from arbx.domain.market.trades import TradeKey
from arbx.ports.book_store import BookStore

_LOCK = "SELECT pg_advisory_xact_lock(hashtext(%s))"
_INSERT_QUOTES = (
    "INSERT INTO {quotes} (venue, symbol, ts, bid, bid_qty, ask, ask_qty)"
    " SELECT %s, %s, u.ts, u.bid, u.bid_qty, u.ask, u.ask_qty FROM unnest("
    "%s::timestamptz[], %s::float8[], %s::float8[], %s::float8[], %s::float8[])"
    " AS u(ts, bid, bid_qty, ask, ask_qty) ON CONFLICT DO NOTHING"
)
_INSERT_BOOK = (
    "INSERT INTO {book_updates}"
    " (venue, symbol, ts, sequence, first_sequence, kind, side, price, qty)"
    " SELECT %(venue)s, %(symbol)s, u.ts, u.sequence, u.first_sequence, u.kind, u.side,"
    " u.price, u.qty FROM unnest(%(ts)s::timestamptz[], %(sequence)s::int8[],"
    " %(first_sequence)s::int8[], %(kind)s::text[], %(side)s::text[], %(price)s::float8[],"
    " %(qty)s::float8[]) AS u(ts, sequence, first_sequence, kind, side, price, qty)"
    " WHERE NOT EXISTS (SELECT 1 FROM {book_updates} b WHERE b.venue = %(venue)s"
    " AND b.symbol = %(symbol)s AND b.kind = u.kind AND b.sequence = u.sequence"
    " AND b.side = u.side AND b.price = u.price)"
    " ON CONFLICT DO NOTHING"
)
_READ_QUOTES = (
    "SELECT ts, bid, bid_qty, ask, ask_qty FROM {quotes} WHERE venue = %s AND symbol = %s"
    " AND ts >= %s AND ts < %s ORDER BY ts, bid, bid_qty, ask, ask_qty"
)
_READ_BOOK = (
    "SELECT ts, sequence, first_sequence, kind, side, price, qty FROM {book_updates}"
    " WHERE venue = %s AND symbol = %s AND ts >= %s AND ts < %s"
    " ORDER BY ts, sequence, kind, side, price"
)


class PostgresBookStore(BookStore):
    """Quotes and book updates in ``<schema>``; the schema must be migrated (``migrate.upgrade``)."""

    def __init__(self, pool: AsyncConnectionPool, schema: str) -> None:
        self._pool = pool
        self._t = SchemaTables(schema, "quotes", "book_updates")

    async def write_quotes(self, key: TradeKey, quotes: pl.DataFrame) -> int:
        check_quotes(quotes)
        fresh = quotes.unique(list(QUOTE_COLUMNS), keep="first", maintain_order=True)
        if fresh.is_empty():
            return 0
        params = (
            key.venue,
            str(key.symbol),
            *(fresh.get_column(c).to_list() for c in QUOTE_COLUMNS),
        )
        return await self._insert(f"quotes:{key}", _INSERT_QUOTES, params, f"quotes of {key}")

    async def write_book(self, key: TradeKey, rows: pl.DataFrame) -> int:
        check_book(rows)
        fresh = rows.unique(list(BOOK_KEY), keep="first", maintain_order=True)
        if fresh.is_empty():
            return 0
        params: dict[str, Any] = {c: fresh.get_column(c).to_list() for c in BOOK_COLUMNS}
        params |= {"venue": key.venue, "symbol": str(key.symbol)}
        return await self._insert(f"book:{key}", _INSERT_BOOK, params, f"book updates of {key}")

    async def _insert(self, lock: str, statement: str, params: Any, what: str) -> int:
        with storage_errors(f"write the {what}"):
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(_LOCK, (f"arbx.{lock}",))
                cur = await conn.execute(self._t.sql(statement), params)
                return max(cur.rowcount, 0)

    async def read_quotes(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        rows = await self._read(_READ_QUOTES, key, span, f"quotes of {key}")
        return pl.DataFrame(rows, schema=QUOTE_SCHEMA, orient="row")

    async def read_book(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        rows = await self._read(_READ_BOOK, key, span, f"book updates of {key}")
        return pl.DataFrame(rows, schema=BOOK_SCHEMA, orient="row")

    async def _read(self, query: str, key: TradeKey, span: TimeSpan, what: str) -> list[Any]:
        with storage_errors(f"read the {what}"):
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    self._t.sql(query), (key.venue, str(key.symbol), span.start, span.end)
                )
                return list(await cur.fetchall())

    async def quote_keys(self) -> list[TradeKey]:
        return await self._keys("SELECT DISTINCT venue, symbol FROM {quotes}")

    async def book_keys(self) -> list[TradeKey]:
        return await self._keys("SELECT DISTINCT venue, symbol FROM {book_updates}")

    async def _keys(self, query: str) -> list[TradeKey]:
        with storage_errors("list the stored pairs"):
            async with self._pool.connection() as conn:
                cur = await conn.execute(self._t.sql(query))
                rows = await cur.fetchall()
        keys = [TradeKey(str(venue), Symbol.parse(str(symbol))) for venue, symbol in rows]
        return sorted(keys, key=lambda k: (k.venue, k.symbol))
