"""PostgreSQL binary COPY for bar frames, encoded and decoded by numpy in one pass.

A bar row in COPY BINARY is fixed-width when no field is NULL (market_data columns are all
NOT NULL): a 16-bit field count, then per field a 32-bit length and the big-endian value
(timestamptz = int64 microseconds since 2000-01-01 UTC, float8 = IEEE double). So a whole
frame maps onto one numpy structured array: no Python object per row in either direction.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import polars as pl
import psycopg
from psycopg import pq

from arbx.domain.errors import StorageError
from arbx.domain.market import BAR_COLUMNS, BAR_SCHEMA

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
PG_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00:00Z in Unix milliseconds
_VALUES = BAR_COLUMNS[1:]

ROW_DTYPE = np.dtype(
    [("nfields", ">i2")]
    + [
        item
        for name in BAR_COLUMNS
        for item in ((f"len_{name}", ">i4"), (name, ">i8" if name == "ts" else ">f8"))
    ]
)


def encode_bars(bars: pl.DataFrame, prefix: tuple[str, ...] = ()) -> bytearray:
    """The COPY BINARY stream (header, rows, trailer) of a canonical bar frame.

    ``prefix`` holds text values repeated in front of every row (the series' exchange, symbol
    and timeframe, for a COPY straight into market_data); being the same on every row, they
    keep the row fixed-width.
    """
    texts = [value.encode() for value in prefix]
    dtype = np.dtype(
        [("nfields", ">i2")]
        + [
            item
            for i, t in enumerate(texts)
            for item in ((f"len_p{i}", ">i4"), (f"p{i}", f"S{len(t)}"))
        ]
        + ROW_DTYPE.descr[1:]
    )
    # One buffer for the whole stream; the rows are a structured view into its middle.
    stream = bytearray(len(HEADER) + bars.height * dtype.itemsize + len(TRAILER))
    stream[: len(HEADER)] = HEADER
    stream[len(stream) - len(TRAILER) :] = TRAILER
    rows = np.frombuffer(stream, dtype=dtype, count=bars.height, offset=len(HEADER))
    rows["nfields"] = len(texts) + len(BAR_COLUMNS)
    for i, text in enumerate(texts):
        rows[f"len_p{i}"] = len(text)
        rows[f"p{i}"] = text
    for name in BAR_COLUMNS:
        rows[f"len_{name}"] = 8
    ms = bars.get_column("ts").dt.epoch("ms").to_numpy()
    rows["ts"] = (ms - PG_EPOCH_MS) * 1000
    for name in _VALUES:
        rows[name] = bars.get_column(name).to_numpy()
    return stream


def decode_bars(data: bytes | bytearray | memoryview) -> pl.DataFrame:
    """Parse a COPY BINARY stream of (ts, open, high, low, close, volume) into the canonical
    frame. Raises ``StorageError`` when the stream is not such a stream (e.g. a NULL field)."""
    view = memoryview(data)
    if len(view) < len(HEADER) + len(TRAILER) or bytes(view[: len(SIGNATURE)]) != SIGNATURE:
        raise StorageError("PostgreSQL sent a COPY stream without the binary signature")
    extension = int.from_bytes(view[len(SIGNATURE) + 4 : len(HEADER)], "big")
    start = len(HEADER) + extension
    body = view[start : len(view) - len(TRAILER)]
    if bytes(view[len(view) - len(TRAILER) :]) != TRAILER or len(body) % ROW_DTYPE.itemsize:
        raise StorageError("PostgreSQL sent a binary COPY stream of unexpected shape")
    rows = np.frombuffer(body, dtype=ROW_DTYPE)
    if rows.size and (
        not (rows["nfields"] == len(BAR_COLUMNS)).all()
        or any(not (rows[f"len_{name}"] == 8).all() for name in BAR_COLUMNS)
    ):
        raise StorageError("PostgreSQL sent bar rows with missing or NULL fields")
    ts_ms = rows["ts"].astype(np.int64) // 1000 + PG_EPOCH_MS
    columns: dict[str, pl.Series] = {
        "ts": pl.Series("ts", ts_ms, dtype=pl.Int64).cast(BAR_SCHEMA["ts"]),
    }
    for name in _VALUES:
        columns[name] = pl.Series(name, rows[name].astype(np.float64), dtype=pl.Float64)
    return pl.DataFrame(columns)


async def copy_out(conn: psycopg.AsyncConnection, query: bytes) -> bytearray:
    """Run ``COPY (...) TO STDOUT`` on ``conn`` and return the whole stream.

    psycopg's ``Copy`` awaits once per row (libpq hands COPY data out a row at a time), which
    caps reads near 300k rows/s; this drains every row already buffered before waiting on the
    socket again, through the documented low-level ``conn.pgconn`` API. The connection must be
    exclusively ours (borrowed from a pool) and idle or in a transaction block. A server error
    is raised as the matching ``psycopg.errors`` class, so callers translate it as usual.
    """
    pgconn = conn.pgconn
    loop = asyncio.get_running_loop()
    pgconn.send_query(query)
    while pgconn.flush():
        await _wait(loop, pgconn.socket, writable=True)
    result = await _next_result(loop, pgconn)
    if result is None or result.status != pq.ExecStatus.COPY_OUT:
        await _drain_results(loop, pgconn)
        raise _error(result, pgconn)
    buffer = bytearray()
    get_copy_data = pgconn.get_copy_data
    while True:
        nbytes, data = get_copy_data(1)
        if nbytes > 0:
            buffer += data
        elif nbytes == 0:
            await _wait(loop, pgconn.socket)
            pgconn.consume_input()
        elif nbytes == -1:
            break
        else:
            raise psycopg.OperationalError(
                pgconn.error_message.decode(errors="replace") or "COPY failed"
            )
    final = await _next_result(loop, pgconn)
    await _drain_results(loop, pgconn)
    if final is None or final.status != pq.ExecStatus.COMMAND_OK:
        raise _error(final, pgconn)
    return buffer


async def _next_result(loop: asyncio.AbstractEventLoop, pgconn: pq.abc.PGconn) -> Any:
    while True:
        pgconn.consume_input()
        if not pgconn.is_busy():
            return pgconn.get_result()
        await _wait(loop, pgconn.socket)


async def _drain_results(loop: asyncio.AbstractEventLoop, pgconn: pq.abc.PGconn) -> None:
    while await _next_result(loop, pgconn) is not None:
        pass


def _error(result: Any, pgconn: pq.abc.PGconn) -> psycopg.Error:
    if result is None:
        message = pgconn.error_message.decode(errors="replace") or "connection lost during COPY"
        return psycopg.OperationalError(message.strip())
    sqlstate = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
    message = result.error_message.decode(errors="replace").strip()
    try:
        cls = psycopg.errors.lookup(sqlstate) if sqlstate else psycopg.DatabaseError
    except KeyError:
        cls = psycopg.DatabaseError
    return cls(message or f"COPY ended with status {result.status}")


async def _wait(loop: asyncio.AbstractEventLoop, fd: int, *, writable: bool = False) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if writable:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        if writable:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)
