"""Use cases around backtests: run one (validate, load bars, compute, store) and query runs.

One call per face: ``RunBacktest.execute`` (the CLI, the Python API) computes and stores
before it returns; ``RunBacktest.start`` (the HTTP API) computes a run reading fewer than
``inline_max_bars`` bars at once and hands a larger one to ``BackgroundBacktests`` (an
``Executor``: a process pool), answering with the accepted run. ``rerun`` and
``start_rerun`` run a stored run's request again and say whether its data changed.

Both validate the request and load its bars first (``InvalidInput`` names what is wrong, and
nothing is stored), with the lookback check in ``domain.backtest.runner.check_bars``. The
stored request is the effective one: every traded venue's fee schedule is written in (the
request's, else config ``default_fees``, else the built-in default), so a rerun uses the
same fees whatever the defaults become. Each series read is fingerprinted (rows, first and
last bar, SHA-256 of the bars); a rerun compares them with the stored run's and records the
differences (``data_changed``, with a note).

A run with ``execution`` "recorded_book" or "recorded_quotes" also reads, from the
``BookStore``, each traded series' recorded book updates or quotes over the span; a leg
without them is refused (``InvalidInput`` on ``execution``, nothing stored), and the stored
run names the rows it read in its notes (count, first and last time, SHA-256).

With a ``QualityStore``, each series a run reads is scored (``SummarizeQuality``) and the
score is kept in the run's meta beside the gap count of the data used.

Authorization happens here: ``actor`` is the caller (``CLI_OPERATOR`` for the local CLI,
which may do anything). Starting needs ``backtests:run``; reading a run ``results:read`` on
it (own, shared or ownerless runs; everybody's with ``results:read_any``); deleting needs
``backtests:run`` and ownership (or ``results:read_any``). Listing pages in the store after
the visibility filter.
"""

from __future__ import annotations

import asyncio
import builtins
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec
import polars as pl

from arbx.app.background_backtests import BackgroundBacktests, BackgroundRun, run_resource
from arbx.app.validate_series import SummarizeQuality
from arbx.domain.auth import Permission, Principal, PrincipalKind, Role
from arbx.domain.auth.policy import Resource, require
from arbx.domain.backtest.costs import FeeSchedule, fees_for
from arbx.domain.backtest.listing import RunQuery
from arbx.domain.backtest.recorded import RecordedKind, describe_recorded
from arbx.domain.backtest.request import BacktestRequest, ValidRequest, validate_request
from arbx.domain.backtest.result import BacktestResult
from arbx.domain.backtest.run import (
    BacktestRun,
    BarsFingerprint,
    DataChange,
    RunMeta,
    RunSummary,
    SeriesUsed,
    TableName,
    data_changes,
    fingerprint_bars,
)
from arbx.domain.backtest.runner import check_bars, check_books
from arbx.domain.backtest.runner import run as run_engine
from arbx.domain.errors import InvalidInput, NotFound
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.market.trades import TradeKey
from arbx.domain.quality.gaps import missing_runs
from arbx.domain.strategies.plugin import StrategyFailed, time_limit
from arbx.domain.suggestions import unknown
from arbx.ports.bar_store import BarStore, SeriesInfo
from arbx.ports.book_store import BookStore
from arbx.ports.clock import Clock
from arbx.ports.quality_store import QualityStore
from arbx.ports.run_store import RunFailure, RunStore

CLI_OPERATOR = Principal(
    kind=PrincipalKind.USER, user_id="", username="cli", roles=frozenset({Role.ADMIN})
)
"""The person at the local CLI: holds the database itself, so may do anything; the runs it
makes have no owner (every reader of a server on the same store sees them)."""

HASH_IN_THREAD_ROWS = 100_000  # fingerprint larger series off the event loop


@dataclass(frozen=True)
class DataQuality:
    """The quality of one series over the bars a run read."""

    gaps: int
    bars_missing: int
    score: float | None


@dataclass(frozen=True)
class PreparedBacktest:
    """A validated request with its bars loaded (cut to the span) and fingerprinted.

    Picklable (plain request and frames), so ``compute`` can run in a worker process; the
    validation is redone there from the request (cheap and deterministic).
    """

    request: BacktestRequest
    bars: dict[SeriesKey, pl.DataFrame]
    quality: dict[SeriesKey, DataQuality] = field(default_factory=dict)
    fingerprints: dict[SeriesKey, BarsFingerprint] = field(default_factory=dict)
    rerun_of: str | None = None
    data_changed: list[DataChange] | None = None
    strategy_version: str | None = None  # the catalog version run ("name@v3"), if any
    notes: list[str] = field(default_factory=list)  # about the span vs the stored data
    # recorded executions: each traded series' stored book or quote frame over the span
    books: dict[SeriesKey, pl.DataFrame] = field(default_factory=dict)

    @property
    def valid(self) -> ValidRequest:
        return validate_request(self.request)

    @property
    def bar_count(self) -> int:
        """Rows across every series: the size that picks at once vs background."""
        return sum(frame.height for frame in self.bars.values())

    def series_used(self) -> list[SeriesUsed]:
        used = []
        for key, frame in self.bars.items():
            q = self.quality.get(key)
            fp = self.fingerprints.get(key)
            used.append(
                SeriesUsed(
                    str(key),
                    frame.height,
                    frame["ts"][0],
                    frame["ts"][-1],
                    gaps=None if q is None else q.gaps,
                    bars_missing=None if q is None else q.bars_missing,
                    quality_score=None if q is None else q.score,
                    sha256=None if fp is None else fp.sha256,
                )
            )
        return used


def compute(prepared: PreparedBacktest) -> BacktestResult:
    """Run the engine (CPU only; safe to call in a worker process)."""
    return run_engine(prepared.valid, prepared.bars, prepared.books or None)


def _owner(actor: Principal) -> str | None:
    return actor.user_id or None


def change_notes(rerun_of: str, changes: list[DataChange]) -> list[str]:
    """Say how the data of a rerun differ from the run it repeats."""
    notes = []
    for change in changes:
        before, now = change.before, change.now
        if before is None or now is None:
            side = "was not read by" if before is None else "is no longer read by"
            notes.append(f"data changed: {change.series} {side} run {rerun_of}")
            continue
        notes.append(
            f"data changed since run {rerun_of}: {change.series} had {_describe(before)},"
            f" now {_describe(now)}"
        )
    return notes


def _describe(fp: BarsFingerprint) -> str:
    digest = "no hash" if fp.sha256 is None else f"sha256 {fp.sha256[:12]}"
    return (
        f"{fp.rows:,} bars {fp.first_ts:%Y-%m-%d %H:%M} .. {fp.last_ts:%Y-%m-%d %H:%M} ({digest})"
    )


def span_notes(span: TimeSpan, stored: list[SeriesInfo]) -> list[str]:
    """Say when the requested span reaches past the stored data, so a run that covers less
    than was asked for says so in its result."""
    notes = []
    for info in stored:
        last = info.last_ts + info.key.timeframe.duration  # the close of the last bar
        if span.end > last:
            notes.append(
                f"end {span.end:%Y-%m-%d %H:%M} is after the stored data of {info.key}, which"
                f" ends at {last:%Y-%m-%d %H:%M} UTC: the run covers less than asked"
            )
        if span.start < info.first_ts:
            notes.append(
                f"start {span.start:%Y-%m-%d %H:%M} is before the stored data of {info.key},"
                f" which begins at {info.first_ts:%Y-%m-%d %H:%M} UTC"
            )
    return notes


class RunBacktest:
    def __init__(
        self,
        bars: BarStore,
        runs: RunStore,
        clock: Clock,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        *,
        quality: QualityStore | None = None,
        default_fees: Mapping[str, FeeSchedule] | None = None,
        background: BackgroundBacktests | None = None,
        inline_max_bars: int | None = None,
        books: BookStore | None = None,
    ) -> None:
        """``start`` computes at once below ``inline_max_bars`` bars and hands larger runs to
        ``background``; without either it computes every run at once. ``books``: the
        recorded quotes and books that recorded executions fill on (None: such runs are
        refused)."""
        self._bars = bars
        self._books = books
        self._runs = runs
        self._clock = clock
        self._new_id = new_id
        self._quality = None if quality is None else SummarizeQuality(bars, quality)
        self._default_fees = dict(default_fees or {})
        self._background = background
        self._inline_max_bars = inline_max_bars

    # -- the faces ------------------------------------------------------------------------

    async def execute(
        self,
        request: BacktestRequest,
        *,
        actor: Principal,
        shared: bool = False,
        strategy_version: str | None = None,
    ) -> BacktestRun:
        """Validate, load, compute (in a thread) and store; return the stored run (which
        names ``strategy_version``, the catalog version it was made from, when given)."""
        require(actor, Permission.BACKTESTS_RUN)
        prepared = await self.prepare(request)
        if strategy_version is not None:
            prepared = replace(prepared, strategy_version=strategy_version)
        return await self._inline(prepared, actor, shared)

    async def start(
        self, request: BacktestRequest, *, actor: Principal, shared: bool = False
    ) -> BacktestRun | BackgroundRun:
        """Like ``execute`` for a small run; a large one is accepted and computed in the
        background (poll it with ``BacktestRuns.status``)."""
        require(actor, Permission.BACKTESTS_RUN)
        prepared = await self.prepare(request)
        return await self._place(prepared, actor, shared)

    async def rerun(self, run_id: str, *, actor: Principal) -> BacktestRun:
        """Run a stored run's request again on the data stored now, as a new run of
        ``actor`` (same data gives the same result, bit for bit; changed data is recorded
        in ``data_changed`` and the notes)."""
        prepared, stored = await self._prepare_rerun(run_id, actor)
        return await self._inline(prepared, actor, stored.meta.shared)

    async def start_rerun(self, run_id: str, *, actor: Principal) -> BacktestRun | BackgroundRun:
        prepared, stored = await self._prepare_rerun(run_id, actor)
        return await self._place(prepared, actor, stored.meta.shared)

    # -- the steps ------------------------------------------------------------------------

    def new_id(self) -> str:
        """A fresh run id (callers that answer before storing reserve one with this)."""
        return self._new_id()

    async def prepare(self, request: BacktestRequest) -> PreparedBacktest:
        """Validate ``request`` and load its bars; ``InvalidInput`` names what is wrong
        (unknown strategy or parameter, start >= end, a series without data in the span,
        fewer bars than the strategy's lookback, negative capital or fees...)."""
        valid = validate_request(request)
        request = self._effective(request, valid)
        loaded = {key: await self._bars.read(key, valid.span) for key in valid.all_keys()}
        stored = {info.key: info for info in await self._bars.list_series()}
        for key, frame in loaded.items():  # a series not stored at all: say what is
            if frame.is_empty() and key not in stored:
                names = [str(k) for k in stored]
                raise InvalidInput(unknown("series", str(key), names), field="series")
        check_bars(valid, loaded)  # no data, fewer bars than the lookback
        quality = {key: await self._data_quality(key, frame) for key, frame in loaded.items()}
        prints = {key: await _fingerprint(frame) for key, frame in loaded.items()}
        notes = span_notes(valid.span, [stored[key] for key in loaded if key in stored])
        books = await self._recorded(valid)
        kind: RecordedKind = (
            "recorded_quotes" if request.execution == "recorded_quotes" else "recorded_book"
        )
        for key, frame in books.items():
            notes.append(describe_recorded(frame, f"{key.exchange.id}:{key.symbol}", kind))
        return PreparedBacktest(request, loaded, quality, prints, notes=notes, books=books)

    async def _recorded(self, valid: ValidRequest) -> dict[SeriesKey, pl.DataFrame]:
        """The recorded stream of every traded series for a recorded execution ({}
        otherwise), checked to give a book (``runner.check_books``)."""
        if not valid.recorded:
            return {}
        if self._books is None:
            raise InvalidInput(
                f"execution {valid.request.execution!r} needs a quote/book store, and none is"
                " configured here; use execution 'bars' or 'synthetic_book'",
                field="execution",
            )
        out = {}
        for key in valid.keys:
            trade_key = TradeKey(key.exchange.id, key.symbol)
            if valid.request.execution == "recorded_quotes":
                out[key] = await self._books.read_quotes(trade_key, valid.span)
            else:
                out[key] = await self._books.read_book(trade_key, valid.span)
        check_books(valid, out)
        return out

    async def store(
        self,
        prepared: PreparedBacktest,
        result: BacktestResult,
        *,
        run_id: str | None = None,
        owner: str | None = None,
        shared: bool = False,
    ) -> BacktestRun:
        """Record a computed run (under ``run_id`` when the caller reserved one)."""
        valid = prepared.valid
        run = BacktestRun.of(
            run_id or self._new_id(),
            self._clock.now(),
            valid.request,
            valid.params,
            (valid.span.start, valid.span.end),
            prepared.series_used(),
            result,
        )
        meta = msgspec.structs.replace(
            run.meta,
            owner=owner,
            shared=shared,
            strategy_version=prepared.strategy_version,
            notes=[*run.meta.notes, *prepared.notes],
        )
        origin = valid.strategy.origin
        if valid.strategy.is_plugin:  # name exactly the code that made the result
            meta = msgspec.structs.replace(
                meta,
                notes=[
                    *meta.notes,
                    f"strategy plugin {valid.strategy.name} from {origin.location}"
                    f" (sha256 {origin.code_hash}"
                    + (f", version {origin.version})" if origin.version else ")"),
                ],
            )
        if prepared.rerun_of is not None:
            changes = prepared.data_changed or []
            meta = msgspec.structs.replace(
                meta,
                rerun_of=prepared.rerun_of,
                data_changed=changes,
                notes=[*meta.notes, *change_notes(prepared.rerun_of, changes)],
            )
        run = BacktestRun(meta, run.tables)
        await self._runs.save(run)
        return run

    def _effective(self, request: BacktestRequest, valid: ValidRequest) -> BacktestRequest:
        """The request with every setting resolved at run time written in: the fee schedule
        of every traded venue, a single-market run's venue lot size and minimum notional,
        an arbitrage run's common currency."""
        fees = dict(request.fees)
        for venue in dict.fromkeys(key.exchange.id for key in valid.keys):
            if venue not in fees:
                fees[venue] = self._default_fees.get(venue) or fees_for(venue)
        changes: dict[str, Any] = {} if fees == request.fees else {"fees": fees}
        if valid.engine == "arbitrage":
            if request.arbitrage.common_currency is None:
                changes["arbitrage"] = msgspec.structs.replace(
                    request.arbitrage, common_currency=valid.common_currency()
                )
        elif not valid.several_series:  # several series: each venue's own rules
            execution = valid.execution()
            if request.lot_size is None:
                changes["lot_size"] = execution.lot_size
            if request.min_notional is None:
                changes["min_notional"] = execution.min_notional
        return msgspec.structs.replace(request, **changes) if changes else request

    async def _data_quality(self, key: SeriesKey, frame: pl.DataFrame) -> DataQuality:
        """Gaps between the first and last bar read (the frame is canonical: sorted, unique,
        on the grid) and, with a quality store, the stored score over the same span."""
        step = key.timeframe.ms
        starts, ends = missing_runs(frame["ts"].dt.epoch("ms").to_numpy(), step)
        score = None
        if self._quality is not None:
            span = TimeSpan(frame["ts"][0], frame["ts"][-1] + key.timeframe.duration)
            score = (await self._quality.execute(key, span)).score.score
        return DataQuality(int(starts.size), int((ends - starts).sum()) // step, score)

    async def _prepare_rerun(
        self, run_id: str, actor: Principal
    ) -> tuple[PreparedBacktest, BacktestRun]:
        require(actor, Permission.BACKTESTS_RUN)
        stored = await self._runs.get(run_id)
        require(actor, Permission.RESULTS_READ, run_resource(stored.meta.owner, stored.meta.shared))
        prepared = await self.prepare(stored.meta.request)
        changes = data_changes(stored.meta.series, prepared.series_used())
        notes = [*prepared.notes, *_recorded_changes(stored, prepared.notes)]
        return replace(prepared, rerun_of=stored.id, data_changed=changes, notes=notes), stored

    def _plugin_limit(self, prepared: PreparedBacktest) -> float | None:
        """The time limit of a plugin run (None: a built-in, or no limit)."""
        return time_limit() if prepared.valid.strategy.is_plugin else None

    async def _inline(
        self,
        prepared: PreparedBacktest,
        actor: Principal,
        shared: bool,
        *,
        on_workers: bool = False,
    ) -> BacktestRun:
        """Compute and store while the caller waits: in a thread, or (``on_workers``, a
        plugin run with a time limit) on the background executor, whose worker is ended
        when one plugin call outlives the limit (a thread cannot be stopped)."""
        limit = self._plugin_limit(prepared) if on_workers else None
        try:
            if limit is not None and self._background is not None:
                result = await self._background.compute_now(
                    compute, prepared, strategy=prepared.request.strategy, time_limit_s=limit
                )
            else:
                result = await asyncio.to_thread(compute, prepared)
        except StrategyFailed as exc:  # the strategy's own code: a failed run, recorded
            run_id = self._new_id()
            await self._runs.record_failure(
                RunFailure(
                    id=run_id,
                    created_at=self._clock.now(),
                    strategy=prepared.request.strategy,
                    bars=prepared.bar_count,
                    error=f"StrategyFailed: {exc.message}",
                    owner=_owner(actor),
                    shared=shared,
                )
            )
            raise StrategyFailed(f"backtest run {run_id} failed: {exc.message}") from None
        return await self.store(prepared, result, owner=_owner(actor), shared=shared)

    async def _place(
        self, prepared: PreparedBacktest, actor: Principal, shared: bool
    ) -> BacktestRun | BackgroundRun:
        limit = self._inline_max_bars
        if self._background is None or limit is None or prepared.bar_count < limit:
            return await self._inline(prepared, actor, shared, on_workers=True)
        run = BackgroundRun(
            id=self._new_id(),
            created_at=self._clock.now(),
            strategy=prepared.request.strategy,
            bars=prepared.bar_count,
            owner=_owner(actor),
            shared=shared,
            data_changed=prepared.data_changed,
            time_limit_s=self._plugin_limit(prepared),
        )

        async def finish(result: BacktestResult) -> BacktestRun:
            return await self.store(
                prepared, result, run_id=run.id, owner=run.owner, shared=run.shared
            )

        return self._background.start(run, finish, compute, prepared)


@dataclass(frozen=True)
class RunListing:
    """Stored runs an actor may read (newest first) and their runs still computing; with a
    status filter of ``failed``, the recorded failures (newest first). ``next_offset``: the
    offset of the next page of ``backtests`` (or ``failed``), None on the last."""

    backtests: list[RunSummary]
    in_flight: list[BackgroundRun]
    failed: list[RunFailure] = field(default_factory=list)
    next_offset: int | None = None


STATUSES = ("pending", "running", "done", "failed")


def _may_list(actor: Principal, limit: int) -> None:
    require(actor, Permission.RESULTS_READ)
    if limit < 1 or limit > 1000:
        raise InvalidInput("limit must be between 1 and 1000", field="limit")


class BacktestRuns:
    """Queries over runs (list, status, show, one table, delete), authorized per run."""

    def __init__(self, runs: RunStore, background: BackgroundBacktests | None = None) -> None:
        self._runs = runs
        self._background = background

    async def list(
        self,
        *,
        actor: Principal,
        strategy: str | None = None,
        limit: int = 100,
        query: RunQuery | None = None,
    ) -> builtins.list[RunSummary]:
        """Runs ``actor`` may read, newest first or in ``query``'s order (the store
        filters, sorts, then pages)."""
        _may_list(actor, limit)
        return await self._runs.list(
            strategy=strategy, limit=limit, readable_by=self._reader(actor), query=query
        )

    def _reader(self, actor: Principal) -> str | None:
        return None if actor.has(Permission.RESULTS_READ_ANY) else actor.user_id

    async def listing(
        self,
        *,
        actor: Principal,
        strategy: str | None = None,
        limit: int = 100,
        query: RunQuery | None = None,
        status: str | None = None,
    ) -> RunListing:
        """``list`` and the actor's readable runs computing in the background; ``status``
        keeps one kind: done (stored runs), pending or running (in flight here), failed
        (recorded failures, which have no series or span to filter on)."""
        _may_list(actor, limit)
        if status is not None and status not in STATUSES:
            raise InvalidInput(
                f"status must be one of {', '.join(STATUSES)}, got {status!r}", field="status"
            )
        q = query or RunQuery()
        flying = [] if self._background is None else self._background.in_flight(actor)
        flying = [
            r
            for r in flying
            if (strategy is None or r.strategy == strategy) and status in (None, r.status)
        ]
        if status == "failed":
            for name in ("series", "venue", "start", "end"):
                if getattr(q, name) is not None:
                    raise InvalidInput(
                        f"a failed run has no {name} to filter on; leave {name} out", field=name
                    )
            failed = await self._runs.failures(
                strategy=strategy,
                readable_by=self._reader(actor),
                limit=limit + 1,
                offset=q.offset,
                newest_first=True,
            )
            more = len(failed) > limit
            return RunListing([], [], failed[:limit], q.offset + limit if more else None)
        if status in ("pending", "running"):
            return RunListing([], flying)
        found = await self._runs.list(
            strategy=strategy, limit=limit + 1, readable_by=self._reader(actor), query=q
        )
        more = len(found) > limit
        return RunListing(
            found[:limit],
            [] if status == "done" else flying,
            [],
            q.offset + limit if more else None,
        )

    async def status(
        self, run_id: str, *, actor: Principal
    ) -> BacktestRun | BackgroundRun | RunFailure:
        """A run computing in this process (or just failed there), a stored run, or a
        recorded failure; ``NotFound`` when none, ``Forbidden`` when ``actor`` may not read
        it."""
        flying = None if self._background is None else self._background.running(run_id)
        if flying is not None:
            require(actor, Permission.RESULTS_READ, flying.resource)
            return flying
        try:
            return await self.get(run_id, actor=actor)
        except NotFound:
            try:
                failure = await self._runs.failure(run_id)
            except NotFound:
                raise NotFound(f"backtest run {run_id!r} does not exist") from None
        require(actor, Permission.RESULTS_READ, run_resource(failure.owner, failure.shared))
        return failure

    async def get(self, run_id: str, *, actor: Principal) -> BacktestRun:
        run = await self._runs.get(run_id)
        require(actor, Permission.RESULTS_READ, run_resource(run.meta.owner, run.meta.shared))
        return run

    async def meta(self, run_id: str, *, actor: Principal) -> RunMeta:
        """A run's metadata alone (no table decoded), for listings and summaries."""
        meta = await self._runs.meta(run_id)
        require(actor, Permission.RESULTS_READ, run_resource(meta.owner, meta.shared))
        return meta

    async def table(self, run_id: str, name: TableName, *, actor: Principal) -> pl.DataFrame:
        await self.meta(run_id, actor=actor)
        return await self._runs.table(run_id, name)

    async def computing(self, run_id: str) -> bool:
        """True while run ``run_id`` computes in this process (a DELETE then cancels it)."""
        flying = None if self._background is None else self._background.running(run_id)
        return flying is not None and not flying.done

    async def delete(self, run_id: str, *, actor: Principal) -> None:
        require(actor, Permission.BACKTESTS_RUN)
        meta = await self._runs.meta(run_id)
        require(actor, Permission.RESULTS_READ, Resource(owner_id=meta.owner or "", shared=False))
        await self._runs.delete(run_id)


_RECORDED_NOTES = ("recorded_book ", "recorded_quotes ")


def _recorded_changes(stored: BacktestRun, notes: list[str]) -> list[str]:
    """A note when the recorded books or quotes a rerun reads differ from those the stored
    run read (each named by a note with its row count and SHA-256)."""
    before = [n for n in stored.meta.notes if n.startswith(_RECORDED_NOTES)]
    now = [n for n in notes if n.startswith(_RECORDED_NOTES)]
    if before == now:
        return []
    return [
        f"data changed since run {stored.id}: the recorded streams read were"
        f" {'; '.join(before) or 'none'}, now {'; '.join(now) or 'none'}"
    ]


async def _fingerprint(frame: pl.DataFrame) -> BarsFingerprint:
    if frame.height < HASH_IN_THREAD_ROWS:
        return fingerprint_bars(frame)
    return await asyncio.to_thread(fingerprint_bars, frame)
