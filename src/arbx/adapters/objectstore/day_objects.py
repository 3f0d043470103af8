"""Rows of one kind kept in a bucket as one Parquet object per (venue, pair) and UTC day:
``<root>/<venue>/<BASE-QUOTE>/<YYYY-MM-DD>.parquet``. Shared by the trade store and the
quote/book store, which differ only in their columns and merge rule.

A write merges the new rows into each day object it touches (rows already held, by the
kind's key, are skipped) and replaces that object with ONE conditional PUT: If-Match the ETag
it read, or create-only for a new day. S3 makes each PUT atomic, so a crash leaves every day
object whole (old or new); writes are idempotent, so writing the same rows again completes
them. Writes to one pair are serialized by a lock per pair within a process; a writer in
another process that replaced a day object first makes this write fail with ``Conflict`` for
that day (days already replaced stay; retry the write) instead of losing its rows.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import obstore
import polars as pl
from obstore import exceptions as obx

from arbx.adapters.objectstore.connect import translate
from arbx.domain.errors import Conflict, StorageError
from arbx.domain.market import Symbol, TimeSpan
from arbx.domain.market.trades import TradeKey, trades_in

_DAY_US = 86_400_000_000
FETCHES_AT_ONCE = 8
Merge = Callable[[pl.DataFrame, pl.DataFrame], tuple[pl.DataFrame, int]]


def root_of(prefix: str, kind: str) -> str:
    """``<prefix>/<kind>`` without stray slashes (``kind`` alone for an empty prefix)."""
    prefix = prefix.strip("/")
    return f"{prefix}/{kind}" if prefix else kind


class DayObjects:
    """One kind of row (``rows`` names it in messages: "trades", "quotes", ...) under ``root``
    of the bucket ``store``, with ``columns`` in that order, ``empty`` for no rows and
    ``merge(stored, incoming) -> (merged, new)`` (merged sorted, a stored row kept)."""

    def __init__(
        self,
        store: Any,
        root: str,
        *,
        rows: str,
        columns: tuple[str, ...],
        empty: Callable[[], pl.DataFrame],
        merge: Merge,
    ) -> None:
        self._store = store
        self._root = root
        self._rows = rows
        self._columns = columns
        self._empty = empty
        self._merge = merge
        self._locks: dict[TradeKey, asyncio.Lock] = {}

    async def write(self, key: TradeKey, rows: pl.DataFrame) -> int:
        """The caller checked ``rows``; returns how many were new."""
        if rows.is_empty():
            return 0
        days = rows.with_columns(
            (pl.col("ts").dt.epoch("us") // _DAY_US).alias("_day")
        ).partition_by("_day", as_dict=True, include_key=False)
        new = 0
        async with self._locks.setdefault(key, asyncio.Lock()):
            for (day,), part in sorted(days.items()):
                path = f"{self._folder(key)}/{_day_name(int(day))}.parquet"
                found = await self._get(path)
                stored = pl.read_parquet(io.BytesIO(found[0])) if found else self._empty()
                merged, added = self._merge(stored, part.select(self._columns))
                if added:
                    await self._replace(path, merged, found[1] if found else None)
                    new += added
        return new

    async def read(self, key: TradeKey, span: TimeSpan) -> pl.DataFrame:
        start_us, end_us = span.start_ms * 1000, span.end_ms * 1000
        first, last = start_us // _DAY_US, (end_us - 1) // _DAY_US
        paths = [
            path
            for path in await self._list(f"{self._folder(key)}/")
            if (day := _day_of(path)) is not None and first <= day <= last
        ]
        gate = asyncio.Semaphore(FETCHES_AT_ONCE)

        async def fetch(path: str) -> pl.DataFrame | None:
            async with gate:
                found = await self._get(path)
            return pl.read_parquet(io.BytesIO(found[0])) if found else None

        frames = [f for f in await asyncio.gather(*map(fetch, sorted(paths))) if f is not None]
        if not frames:
            return self._empty()
        return trades_in(pl.concat(frames), start_us, end_us)

    async def keys(self) -> list[TradeKey]:
        found: set[TradeKey] = set()
        for path in await self._list(f"{self._root}/"):
            parts = path[len(self._root) + 1 :].split("/")
            if len(parts) == 3 and _day_of(path) is not None:
                found.add(TradeKey(parts[0], Symbol.parse(parts[1])))
        return sorted(found, key=lambda k: (k.venue, k.symbol.slug))

    # -- objects ---------------------------------------------------------------------------

    def _folder(self, key: TradeKey) -> str:
        return f"{self._root}/{key.venue}/{key.symbol.slug}"

    async def _list(self, prefix: str) -> list[str]:
        paths: list[str] = []
        try:
            async for batch in obstore.list(self._store, prefix=prefix):
                paths.extend(o["path"] for o in batch)
        except Exception as exc:
            raise translate(exc, f"list {prefix}", self._store) from exc
        return paths

    async def _get(self, path: str) -> tuple[bytes, str | None] | None:
        try:
            result = await obstore.get_async(self._store, path)
            data = bytes(await result.bytes_async())
        except (FileNotFoundError, obx.NotFoundError):
            return None
        except Exception as exc:
            raise translate(exc, f"read {path}", self._store) from exc
        return data, result.meta.get("e_tag")

    async def _replace(self, path: str, frame: pl.DataFrame, etag: str | None) -> None:
        out = io.BytesIO()
        frame.write_parquet(out, compression="zstd", statistics=True)
        mode: Any = "create" if etag is None else {"e_tag": etag}
        try:
            await obstore.put_async(self._store, path, out.getvalue(), mode=mode)
        except (obx.PreconditionError, obx.AlreadyExistsError) as exc:
            raise Conflict(
                f"another writer changed {path} meanwhile; its {self._rows} were not written, retry"
            ) from exc
        except Exception as exc:
            error = translate(exc, f"write {path}", self._store)
            raise (error if error is not exc else StorageError(f"cannot write {path}")) from exc


def _day_name(day: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).strftime("%Y-%m-%d")


def _day_of(path: str) -> int | None:
    stem = path.rsplit("/", 1)[-1].removesuffix(".parquet")
    try:
        moment = datetime.strptime(stem, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)).days
