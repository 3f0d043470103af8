"""A BarStore in an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2) through obstore.

Layout, under an optional prefix::

    ohlcv/exchange=kraken/symbol=BTC-USDC/timeframe=1m/manifest.json
    ohlcv/exchange=kraken/symbol=BTC-USDC/timeframe=1m/month=2024-01/<uuid>.parquet

Month objects are immutable: a write puts NEW objects for the months it changes (create-only,
never overwriting), then switches the series' manifest, which names the current object of
each month, with ONE conditional PUT (If-Match the ETag it read; create-only for a new
series). A crash between object writes leaves the old manifest: readers see the old data,
never a torn month (the orphans are never read). Concurrent writers are serialized by the
manifest's ETag: within a process a lock per series orders them; a writer in another process
that switched the manifest first makes this one fail with ``Conflict`` (retry it) and change
nothing. Superseded objects are deleted after the switch, best effort.

Reads are lazy: the manifest picks the months a span touches; months wholly inside the span
are fetched whole (one GET each), and the one or two months the span cuts are scanned by
polars with the span as a predicate, fetching by HTTP range only the footer and the row
groups whose ts statistics overlap the span (month objects are written in row groups of
``ROW_GROUP_ROWS``, a day of 1m bars). A month object superseded (and deleted) by another
writer during the scan is met by reading the new manifest once more. Stores that are not
S3 (obstore's memory or local stores) are read whole, month by month.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections import defaultdict
from typing import Any

import msgspec
import obstore
import polars as pl
from obstore import exceptions as obx

from arbx.adapters.objectstore.connect import (
    S3Options,
    s3_store,
    scan_options,
    split_url,
    translate,
)
from arbx.domain.errors import Conflict, StorageError, StorageUnavailable
from arbx.domain.market import SeriesKey, TimeSpan, coerce_bars, empty_bars, from_ms
from arbx.domain.market.series_ops import covered_spans, prepare_write, slice_span, upsert_bars
from arbx.ports.bar_store import BarStore, SeriesInfo

MANIFEST = "manifest.json"
ROW_GROUP_ROWS = 1440  # one day of 1m bars: the unit a span read fetches
READ_ATTEMPTS = 8  # a read retried while writers keep switching the manifest under it
FETCHES_AT_ONCE = 8  # whole month objects downloaded concurrently by one read


class MonthEntry(msgspec.Struct, frozen=True):
    object: str
    rows: int
    first_ms: int
    last_ms: int


class Manifest(msgspec.Struct, frozen=True):
    months: dict[str, MonthEntry]


_MANIFEST = msgspec.json.Decoder(Manifest)


def _translate(exc: Exception, what: str, store: Any = None) -> Exception:
    return translate(exc, what, store)


class ObjectStoreBarStore(BarStore):
    def __init__(self, store: Any, prefix: str = "", *, lazy: bool = True) -> None:
        """``lazy`` False reads month objects whole (the reference bench/objectstore.py
        measures the ranged reads against)."""
        self._store = store
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._locks: dict[SeriesKey, asyncio.Lock] = defaultdict(asyncio.Lock)
        config = getattr(store, "config", None)
        self._bucket: str | None = config.get("bucket") if isinstance(config, dict) else None
        # polars reaches the same bucket with these (None: not S3, read objects whole)
        self._scan_options = scan_options(store) if self._bucket and lazy else None

    @classmethod
    def from_url(cls, url: str, options: S3Options | None = None) -> ObjectStoreBarStore:
        """The store at ``s3://bucket/prefix``; credentials, region and endpoint from
        ``options``, else from the AWS_* environment variables (obstore reads them)."""
        bucket, prefix = split_url(url)
        return cls(s3_store(bucket, options), prefix)

    # -- paths and objects ----------------------------------------------------------------

    def _folder(self, key: SeriesKey) -> str:
        return (
            f"{self._prefix}ohlcv/exchange={key.exchange}/symbol={key.symbol.slug}"
            f"/timeframe={key.timeframe}"
        )

    async def _put(self, path: str, data: bytes, mode: Any = "create") -> None:
        try:
            await obstore.put_async(self._store, path, data, mode=mode)
        except obx.PreconditionError as exc:
            raise Conflict(
                f"another writer changed {path} meanwhile; nothing was written, retry"
            ) from exc
        except obx.AlreadyExistsError as exc:
            raise Conflict(f"{path} was created by another writer meanwhile; retry") from exc
        except (FileNotFoundError, obx.NotFoundError) as exc:  # a PUT finds no bucket
            raise StorageUnavailable(
                f"cannot write {path}: the bucket does not exist or is not reachable"
            ) from exc
        except Exception as exc:
            raise _translate(exc, f"write {path}", self._store) from exc

    async def _get(self, path: str) -> tuple[bytes, str | None] | None:
        try:
            result = await obstore.get_async(self._store, path)
            data = bytes(await result.bytes_async())
        except FileNotFoundError:
            return None
        except obx.NotFoundError:
            return None
        except Exception as exc:
            raise _translate(exc, f"read {path}", self._store) from exc
        return data, result.meta.get("e_tag")

    async def _manifest(self, key: SeriesKey) -> tuple[Manifest, str | None]:
        found = await self._get(f"{self._folder(key)}/{MANIFEST}")
        if found is None:
            return Manifest({}), None
        data, etag = found
        try:
            return _MANIFEST.decode(data), etag
        except msgspec.DecodeError as exc:
            raise StorageError(
                f"the manifest of {key} in object storage is damaged: {exc}"
            ) from exc

    async def _load(self, entry: MonthEntry) -> pl.DataFrame:
        found = await self._get(entry.object)
        if found is None:
            raise StorageError(f"{entry.object} is named by its manifest but missing")
        return pl.read_parquet(io.BytesIO(found[0]))

    async def _store_month(self, key: SeriesKey, month: str, frame: pl.DataFrame) -> MonthEntry:
        path = f"{self._folder(key)}/month={month}/{uuid.uuid4().hex}.parquet"
        out = io.BytesIO()
        frame.write_parquet(out, compression="zstd", statistics=True, row_group_size=ROW_GROUP_ROWS)
        await self._put(path, out.getvalue())
        ms = frame.get_column("ts").dt.epoch("ms")
        return MonthEntry(path, frame.height, int(ms[0]), int(ms[-1]))

    async def _switch(self, key: SeriesKey, manifest: Manifest, etag: str | None) -> None:
        mode: Any = "create" if etag is None else {"e_tag": etag}
        await self._put(f"{self._folder(key)}/{MANIFEST}", msgspec.json.encode(manifest), mode)

    async def _forget(self, paths: list[str]) -> None:
        for path in paths:
            try:
                await obstore.delete_async(self._store, path)
            except Exception:  # an orphan is never read; deleting it is housekeeping
                continue

    async def _commit(
        self, key: SeriesKey, old: Manifest, etag: str | None, months: dict[str, pl.DataFrame]
    ) -> None:
        """Put the changed months (empty frame: the month goes), then switch the manifest."""
        entries = dict(old.months)
        written: list[str] = []
        try:
            for month, frame in sorted(months.items()):
                if frame.is_empty():
                    entries.pop(month, None)
                    continue
                entry = await self._store_month(key, month, frame)
                written.append(entry.object)
                entries[month] = entry
            if entries or etag is not None:
                await self._switch(key, Manifest(dict(sorted(entries.items()))), etag)
        except BaseException:
            await self._forget(written)
            raise
        await self._forget([old.months[m].object for m in months if m in old.months])

    # -- the port ---------------------------------------------------------------------------

    async def write(self, key: SeriesKey, bars: pl.DataFrame) -> int:
        incoming = prepare_write(key, bars)
        if incoming.is_empty():
            return 0
        async with self._locks[key]:
            manifest, etag = await self._manifest(key)
            changed_months: dict[str, pl.DataFrame] = {}
            changed = 0
            tagged = incoming.with_columns(pl.col("ts").dt.strftime("%Y-%m").alias("_month"))
            for (month,), chunk in tagged.partition_by("_month", as_dict=True).items():
                chunk = chunk.drop("_month")
                entry = manifest.months.get(str(month))
                existing = await self._load(entry) if entry else empty_bars()
                merged, n = upsert_bars(existing, chunk)
                if n:
                    changed_months[str(month)] = merged
                    changed += n
            if changed:
                await self._commit(key, manifest, etag, changed_months)
        return changed

    async def read(self, key: SeriesKey, span: TimeSpan) -> pl.DataFrame:
        manifest, etag = await self._manifest(key)
        for attempt in range(READ_ATTEMPTS):
            entries = [
                e
                for _, e in sorted(manifest.months.items())
                if e.last_ms >= span.start_ms and e.first_ms < span.end_ms
            ]
            if not entries:
                return empty_bars()
            if self._scan_options is None:
                frames = [await self._load(e) for e in entries]
                return slice_span(coerce_bars(pl.concat(frames)), span)
            try:
                return await self._read_months(entries, span)
            except Exception as exc:
                manifest, now = await self._manifest(key)
                if now != etag and attempt + 1 < READ_ATTEMPTS:
                    etag = now  # a writer replaced a month meanwhile: read its manifest
                    continue
                if isinstance(exc, FileNotFoundError) and now == etag:
                    raise StorageError(
                        f"a month object of {key} named by its manifest is missing"
                    ) from exc
                raise _translate(exc, f"read the bars of {key}", self._store) from exc
        raise StorageUnavailable(
            f"the bars of {key} kept changing under {READ_ATTEMPTS} reads; try again"
        )

    async def _read_months(self, entries: list[MonthEntry], span: TimeSpan) -> pl.DataFrame:
        """Months wholly inside ``span`` are fetched whole (one GET each, a few at once); the
        one or two it cuts are scanned for their row groups in the span."""
        inside = [e for e in entries if e.first_ms >= span.start_ms and e.last_ms < span.end_ms]
        cut = [e for e in entries if e not in inside]
        gate = asyncio.Semaphore(FETCHES_AT_ONCE)

        async def whole(entry: MonthEntry) -> pl.DataFrame:
            async with gate:
                return await self._load(entry)

        frames = dict(zip(inside, await asyncio.gather(*map(whole, inside)), strict=True))
        if cut:
            scanned = await self._scan(cut, span)
            ms = scanned.get_column("ts").dt.epoch("ms")
            for entry in cut:
                frames[entry] = scanned.filter((ms >= entry.first_ms) & (ms <= entry.last_ms))
        ordered = [frames[e] for e in entries]
        return coerce_bars(pl.concat(ordered) if len(ordered) > 1 else ordered[0])

    async def _scan(self, entries: list[MonthEntry], span: TimeSpan) -> pl.DataFrame:
        """The bars of ``span`` in the month objects ``entries``, by ranged reads."""
        urls = [f"s3://{self._bucket}/{e.object}" for e in entries]
        inside = (pl.col("ts") >= span.start) & (pl.col("ts") < span.end)
        lazy = pl.scan_parquet(
            urls, storage_options=self._scan_options, hive_partitioning=False
        ).filter(inside)
        return await asyncio.to_thread(lazy.collect)

    async def _manifest_paths(self) -> list[str]:
        paths: list[str] = []
        try:
            async for batch in obstore.list(self._store, prefix=f"{self._prefix}ohlcv"):
                paths.extend(o["path"] for o in batch if o["path"].endswith(f"/{MANIFEST}"))
        except Exception as exc:
            raise _translate(exc, "list the stored series", self._store) from exc
        return paths

    async def list_series(self) -> list[SeriesInfo]:
        infos = []
        for path in await self._manifest_paths():
            parts = dict(p.split("=", 1) for p in path.split("/")[-4:-1] if "=" in p)
            key = SeriesKey.of(parts["exchange"], parts["symbol"], parts["timeframe"])
            manifest, _ = await self._manifest(key)
            if not manifest.months:
                continue
            entries = list(manifest.months.values())
            infos.append(
                SeriesInfo(
                    key,
                    from_ms(min(e.first_ms for e in entries)),
                    from_ms(max(e.last_ms for e in entries)),
                    sum(e.rows for e in entries),
                )
            )
        return sorted(infos, key=lambda info: info.key)

    async def coverage(self, key: SeriesKey, span: TimeSpan | None = None) -> list[TimeSpan]:
        everything = TimeSpan.from_ms(-62_135_596_800_000, 253_402_300_799_999)
        bars = await self.read(key, span or everything)
        return covered_spans(bars["ts"], key.timeframe)

    async def delete(self, key: SeriesKey, span: TimeSpan) -> int:
        async with self._locks[key]:
            manifest, etag = await self._manifest(key)
            inside = (pl.col("ts") >= span.start) & (pl.col("ts") < span.end)
            changed_months: dict[str, pl.DataFrame] = {}
            removed = 0
            for month, entry in manifest.months.items():
                if entry.last_ms < span.start_ms or entry.first_ms >= span.end_ms:
                    continue
                existing = await self._load(entry)
                kept = existing.filter(~inside)
                if kept.height != existing.height:
                    removed += existing.height - kept.height
                    changed_months[month] = kept
            if removed:
                await self._commit(key, manifest, etag, changed_months)
        return removed

    async def ping(self) -> None:
        try:
            async for _ in obstore.list(self._store, prefix=f"{self._prefix}ohlcv", chunk_size=1):
                break
        except Exception as exc:
            raise _translate(exc, "reach the bucket", self._store) from exc
