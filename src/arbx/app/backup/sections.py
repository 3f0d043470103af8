"""What a backup holds, one section per kind of stored thing, read and written through the ports.

A ``BackupSection`` dumps its store into named files and restores them. Most stores are a list
of records: ``RecordSection(name, type, load, save)`` covers them in one line (see
``entrypoints/backup_sections.py``, the one list of sections). Bars, quality findings and runs
have their own sections (per-series Parquet files, per-run tables).
"""

from __future__ import annotations

import builtins
from abc import abstractmethod
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar, get_args

import msgspec
import polars as pl

from arbx.app.backup.format import decode_frame, decode_lines, encode_frame, encode_lines
from arbx.domain.auth import AuditEntry, AuditQuery, UserCredentials
from arbx.domain.auth.audit import MAX_QUERY_LIMIT
from arbx.domain.backtest.run import BacktestRun, RunMeta, TableName
from arbx.domain.catalog import StateChange, StrategyDefinition, StrategyVersion
from arbx.domain.errors import InvalidInput
from arbx.domain.jobs import JobDefinition, JobRun, RunStatus
from arbx.domain.market import SeriesKey, Symbol, TimeSpan
from arbx.domain.market.trades import TradeKey
from arbx.domain.quality import DataGap, ValidationIssue
from arbx.ports.audit_log import AuditLog
from arbx.ports.bar_store import BarStore
from arbx.ports.catalog_store import CatalogStore
from arbx.ports.job_store import JobStore
from arbx.ports.quality_store import QualityStore
from arbx.ports.run_store import RunFailure, RunStore
from arbx.ports.user_store import UserStore

T = TypeVar("T")
Put = Callable[[str, bytes, int], Awaitable[None]]  # (file name in the section, data, records)
Get = Callable[[str], Awaitable[bytes]]
EVERYTHING = 2**31 - 1  # a list limit no store reaches


class BackupSection(Protocol):
    """One kind of stored thing in a backup.

    - ``name`` is the section's folder in the backup (and its key in the manifest).
    - ``dump(put)`` writes every record of the store through ``put``.
    - ``state()`` is a cheap summary of what is stored (counts, series spans); a backup takes
      it before and after the dump and fails when it changed (the snapshot would not be one).
    - ``is_empty()``: nothing is stored (a restore refuses a store that is not empty).
    - ``restore(names, get)`` writes the files ``names`` (already checked) into the store and
      returns how many records it wrote.
    """

    name: str

    @abstractmethod
    async def dump(self, put: Put) -> None: ...

    @abstractmethod
    async def state(self) -> object: ...

    @abstractmethod
    async def is_empty(self) -> bool: ...

    @abstractmethod
    async def restore(self, names: Sequence[str], get: Get) -> int: ...


@dataclass(frozen=True)
class RecordSection(BackupSection, Generic[T]):
    """A store that lists all its records (``load``) and adds one at a time (``save``): one
    JSON-lines file ``<name>.jsonl``, restored in the order ``load`` gave."""

    name: str
    kind: type[T]
    load: Callable[[], Awaitable[Sequence[T]]]
    save: Callable[[T], Awaitable[object]]

    @property
    def file(self) -> str:
        return f"{self.name}.jsonl"

    async def dump(self, put: Put) -> None:
        records = list(await self.load())
        await put(self.file, encode_lines(records), len(records))

    async def state(self) -> object:
        return len(await self.load())

    async def is_empty(self) -> bool:
        return not await self.load()

    async def restore(self, names: Sequence[str], get: Get) -> int:
        count = 0
        for name in names:
            for record in decode_lines(await get(name), self.kind, name):
                await self.save(record)
                count += 1
        return count


# -- users, job runs, audit: records the ports give in pieces ---------------------------------


async def load_users(users: UserStore) -> list[UserCredentials]:
    """Every user with the password hash (sign-in reads it by username)."""
    found = []
    for user in await users.list():
        credentials = await users.credentials(user.username)
        if credentials is not None:
            found.append(credentials)
    return found


async def load_job_runs(jobs: JobStore) -> list[JobRun]:
    """Every run of every job, oldest first (the order they are restored in)."""
    return list(reversed(await jobs.list_runs(None, limit=EVERYTHING)))


async def save_job_run(jobs: JobStore, run: JobRun) -> None:
    """A run as it was: started, then finished (the store never takes a finished run at once)."""
    running = msgspec.structs.replace(
        run, status=RunStatus.RUNNING, finished_at=None, bars_written=0, error=None
    )
    await jobs.start_run(running)
    if run.status is not RunStatus.RUNNING:
        await jobs.finish_run(run)


async def load_audit(audit: AuditLog) -> list[AuditEntry]:
    """The whole log, oldest first, paged newest first by ``before_seq``."""
    entries: list[AuditEntry] = []
    before: int | None = None
    while True:
        page = await audit.query(AuditQuery(before_seq=before, limit=MAX_QUERY_LIMIT))
        entries.extend(page)
        if len(page) < MAX_QUERY_LIMIT:
            break
        before = page[-1].seq
    entries.reverse()
    return entries


# -- bars: one Parquet file per series and calendar year --------------------------------------


def series_folder(key: SeriesKey) -> str:
    return f"{key.exchange}/{key.symbol.slug}/{key.timeframe}"


def series_of(name: str) -> SeriesKey:
    """The series of ``EXCHANGE/BASE-QUOTE/TF/<file>``."""
    parts = name.split("/")
    if len(parts) != 4:
        raise InvalidInput(f"backup file {name} is not EXCHANGE/BASE-QUOTE/TF/FILE")
    return SeriesKey.of(parts[0], parts[1], parts[2])


def _year(year: int) -> TimeSpan:
    return TimeSpan(datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC))


@dataclass(frozen=True)
class BarsSection(BackupSection):
    bars: BarStore
    name: str = "bars"

    async def dump(self, put: Put) -> None:
        for info in await self.bars.list_series():
            for year in range(info.first_ts.year, info.last_ts.year + 1):
                frame = await self.bars.read(info.key, _year(year))
                if frame.height:
                    name = f"{series_folder(info.key)}/{year}.parquet"
                    await put(name, encode_frame(frame), frame.height)

    async def state(self) -> object:
        return await self.bars.list_series()

    async def is_empty(self) -> bool:
        return not await self.bars.list_series()

    async def restore(self, names: Sequence[str], get: Get) -> int:
        count = 0
        for name in names:
            frame = decode_frame(await get(name), name)
            await self.bars.write(series_of(name), frame)
            count += frame.height
        return count


# -- trades, quotes, book updates: one Parquet file per (venue, symbol) and calendar year -----


def pair_of(name: str) -> TradeKey:
    """The (venue, symbol) of ``VENUE/BASE-QUOTE/<year>.parquet``."""
    parts = name.split("/")
    if len(parts) != 3 or not parts[2].endswith(".parquet"):
        raise InvalidInput(f"backup file {name} is not VENUE/BASE-QUOTE/YEAR.parquet")
    return TradeKey(parts[0], Symbol.parse(parts[1]))


@dataclass(frozen=True)
class MarketFramesSection(BackupSection):
    """Recorded market data kept as frames per (venue, symbol) with a ``ts`` column (trades,
    quotes, L2 book updates): ``keys`` lists the pairs, ``read`` gives a pair's rows in a span
    (sorted), ``write`` adds rows (idempotent). One file ``VENUE/BASE-QUOTE/YEAR.parquet`` per
    pair and calendar year, in the order ``read`` gave; ``state`` is each pair's row count."""

    name: str
    keys: Callable[[], Awaitable[builtins.list[TradeKey]]]
    read: Callable[[TradeKey, TimeSpan], Awaitable[pl.DataFrame]]
    write: Callable[[TradeKey, pl.DataFrame], Awaitable[int]]

    async def _pairs(self) -> builtins.list[TradeKey]:
        return sorted(await self.keys(), key=lambda k: (k.venue, str(k.symbol)))

    async def dump(self, put: Put) -> None:
        for key in await self._pairs():
            frame = await self.read(key, TimeSpan.everything())
            years = frame.with_columns(pl.col("ts").dt.year().alias("_year")).partition_by(
                "_year", as_dict=True, include_key=False, maintain_order=True
            )
            for (year,), part in sorted(years.items()):
                name = f"{key.venue}/{key.symbol.slug}/{year}.parquet"
                await put(name, encode_frame(part), part.height)

    async def state(self) -> object:
        everything = TimeSpan.everything()
        return [(key, (await self.read(key, everything)).height) for key in await self._pairs()]

    async def is_empty(self) -> bool:
        return not await self.keys()

    async def restore(self, names: Sequence[str], get: Get) -> int:
        pairs = [(name, pair_of(name)) for name in names]  # every name checked before a write
        count = 0
        for name, key in pairs:
            frame = decode_frame(await get(name), name)
            await self.write(key, frame)
            count += frame.height
        return count


# -- quality: per series, the issues and the gaps -----------------------------------------------


@dataclass(frozen=True)
class QualitySection(BackupSection):
    quality: QualityStore
    name: str = "quality"

    async def dump(self, put: Put) -> None:
        everything = TimeSpan(datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
        for key in await self.quality.series():
            folder = series_folder(key)
            issues = await self.quality.issues(key, everything)
            gaps = await self.quality.gaps(key, everything)
            await put(f"{folder}/issues.jsonl", encode_lines(issues), len(issues))
            await put(f"{folder}/gaps.jsonl", encode_lines(gaps), len(gaps))

    async def state(self) -> object:
        return await self.quality.series()

    async def is_empty(self) -> bool:
        return not await self.quality.series()

    async def restore(self, names: Sequence[str], get: Get) -> int:
        count = 0
        for name in names:
            key = series_of(name)
            if name.endswith("/issues.jsonl"):
                issues = decode_lines(await get(name), ValidationIssue, name)
                if issues:
                    first = min(i.ts for i in issues)
                    last = max(i.ts for i in issues)
                    span = TimeSpan(first, last + timedelta(milliseconds=1))
                    count += await self.quality.replace_issues(key, span, issues)
            elif name.endswith("/gaps.jsonl"):
                gaps = decode_lines(await get(name), DataGap, name)
                if gaps:
                    span = TimeSpan(min(g.start for g in gaps), max(g.end for g in gaps))
                    count += await self.quality.replace_gaps(key, span, gaps)
            else:
                raise InvalidInput(f"backup file quality/{name} is not issues.jsonl or gaps.jsonl")
        return count


# -- backtest runs: the meta as JSON, each table as Parquet --------------------------------------

TABLES: tuple[str, ...] = get_args(TableName)


@dataclass(frozen=True)
class RunsSection(BackupSection):
    runs: RunStore
    name: str = "runs"

    async def _ids(self) -> builtins.list[str]:
        return [s.id for s in await self.runs.list(limit=EVERYTHING)]

    async def dump(self, put: Put) -> None:
        for run_id in reversed(await self._ids()):  # oldest first
            run = await self.runs.get(run_id)
            await put(f"{run_id}/meta.json", msgspec.json.encode(run.meta), 1)
            for table, frame in sorted(run.tables.items()):
                await put(f"{run_id}/{table}.parquet", encode_frame(frame), frame.height)

    async def state(self) -> object:
        return await self._ids()

    async def is_empty(self) -> bool:
        return not await self.runs.list(limit=1)

    async def restore(self, names: Sequence[str], get: Get) -> int:
        by_run: dict[str, dict[str, str]] = defaultdict(dict)
        for name in names:
            run_id, _, file = name.partition("/")
            by_run[run_id][file] = name
        count = 0
        for run_id, files in by_run.items():
            if "meta.json" not in files:
                raise InvalidInput(f"backup run {run_id} has no meta.json")
            try:
                meta = msgspec.json.decode(await get(files["meta.json"]), type=RunMeta)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                raise InvalidInput(
                    f"backup run {run_id}: meta.json does not decode: {exc}"
                ) from exc
            tables: dict[Any, Any] = {}
            for file, name in files.items():
                table = file.removesuffix(".parquet")
                if file == "meta.json":
                    continue
                if table not in TABLES:
                    raise InvalidInput(f"backup run {run_id} has an unknown table {file}")
                tables[table] = decode_frame(await get(name), name)
            await self.runs.save(BacktestRun(meta, tables))
            count += 1 + sum(frame.height for frame in tables.values())  # as the manifest counts
        return count


def run_failure_section(runs: RunStore) -> BackupSection:
    """Background runs that ended without a result (no tables)."""
    return RecordSection("run_failures", RunFailure, runs.failures, runs.record_failure)


def job_sections(jobs: JobStore) -> builtins.list[BackupSection]:
    """Job definitions, then their runs (a run needs its job)."""
    return [
        RecordSection("jobs", JobDefinition, jobs.list, jobs.save),
        RecordSection(
            "job_runs",
            JobRun,
            lambda: load_job_runs(jobs),
            lambda run: save_job_run(jobs, run),
        ),
    ]


# -- the strategy catalog: each definition with its versions and state history ----------------


class CatalogRecord(msgspec.Struct, frozen=True):
    """One strategy definition, every version of it (oldest first) and its state changes."""

    definition: StrategyDefinition
    versions: builtins.list[StrategyVersion]
    history: builtins.list[StateChange]


async def load_catalog(catalog: CatalogStore) -> builtins.list[CatalogRecord]:
    found = sorted(await catalog.list(), key=lambda d: (d.created_at, d.id))
    return [
        CatalogRecord(d, await catalog.versions(d.id), await catalog.history(d.id)) for d in found
    ]


async def save_catalog(catalog: CatalogStore, record: CatalogRecord) -> None:
    """Replay a definition through the port as it happened: version 1, the later versions,
    then every state change in order; each version starts in the state its first change
    left (or, without changes, in its stored state), and the last change of a version sets
    its stored state, walk-forward reference and approver."""
    if not record.versions or record.versions[0].number != 1:
        raise InvalidInput(f"backup strategy {record.definition.name} has no version 1")
    first_change: dict[int, StateChange] = {}
    last_change: dict[int, int] = {}
    for i, change in enumerate(record.history):
        first_change.setdefault(change.number, change)
        last_change[change.number] = i
    final = {v.number: v for v in record.versions}

    def initial(version: StrategyVersion) -> StrategyVersion:
        change = first_change.get(version.number)
        if change is None:
            return version
        return msgspec.structs.replace(
            version, state=change.before, walk_forward=None, approved_by=None
        )

    first, *later = record.versions
    await catalog.create(msgspec.structs.replace(record.definition, current=1), initial(first))
    for version in later:
        await catalog.add_version(initial(version))
    for i, change in enumerate(record.history):
        if change.number not in final:
            raise InvalidInput(
                f"backup strategy {record.definition.name}: a state change of v{change.number},"
                " which it lacks"
            )
        updated = final[change.number]
        if last_change[change.number] != i:
            updated = msgspec.structs.replace(updated, state=change.after)
        await catalog.set_state(updated, change)


def catalog_section(catalog: CatalogStore) -> BackupSection:
    return RecordSection(
        "strategies",
        CatalogRecord,
        lambda: load_catalog(catalog),
        lambda record: save_catalog(catalog, record),
    )
