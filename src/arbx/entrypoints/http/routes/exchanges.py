"""Exchanges and backfills: venue status, and EnsureHistory as a background ingest run.

``GET /api/v1/exchanges`` shows each configured venue's circuit breaker and how it serves
every timeframe. ``POST /api/v1/ingest`` checks the request at once (venue, symbol listed at
the venue, timeframe, span) and answers 202 with a run id; ``GET /api/v1/ingest/{run_id}``
shows the run's status, progress and, when done, its report or error.

Each run is recorded through the ``JobStore`` as a manual run of the series' paused collect
job (``ingest.<exchange>.<base>-<quote>.<tf>``; resuming that job keeps the series current),
so its status, bars written and error outlive a restart. Progress and the detailed report
live in this process only (``IngestRuns``). At shutdown, runs in flight are cancelled: the
use case writes whole batches only, so nothing partial is stored, and the runs are recorded
as cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import msgspec
from litestar import Litestar, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from arbx.app.ensure_history import EnsureHistory, EnsureHistoryReport, HistoryProgress
from arbx.domain.auth import Permission
from arbx.domain.errors import ArbxError, Conflict, InvalidInput, NotFound
from arbx.domain.jobs import JobDefinition, JobOrigin, JobRun, JobSpec, RunStatus, RunTrigger
from arbx.domain.market import Exchange, SeriesKey, Symbol, Timeframe, TimeSpan
from arbx.domain.market.timespan import parse_instant
from arbx.entrypoints.http.security import requires
from arbx.ports.clock import Clock
from arbx.ports.exchange import ExchangeClient
from arbx.ports.job_store import JobStore

log = logging.getLogger("arbx.ingest")

INGEST_JOB_PREFIX: Final = "ingest-"
QUEUED: Final = "queued"
KEEP_FINISHED: Final = 500  # finished runs kept in memory with their full report
MAX_ERROR_CHARS: Final = 2000

# -- wire shapes ------------------------------------------------------------------------------


class TimeframeOut(msgspec.Struct):
    timeframe: str
    native: bool
    fetched_as: str | None


class ExchangeOut(msgspec.Struct):
    exchange: str
    base_url: str
    breaker: str
    consecutive_failures: int
    retry_at: datetime | None
    last_error: str | None
    timeframes: list[TimeframeOut]


class ExchangesOut(msgspec.Struct):
    exchanges: list[ExchangeOut]


class IngestRequest(msgspec.Struct, forbid_unknown_fields=True):
    exchange: str
    symbol: str
    timeframe: str
    start: str
    end: str


class IngestProgressOut(msgspec.Struct):
    bars_fetched: int
    bars_written: int
    pages: int
    fraction: float
    elapsed_seconds: float
    eta_seconds: float | None


class VenueGapOut(msgspec.Struct):
    start: datetime
    end: datetime
    bars: int
    cause: str


class IngestSummaryOut(msgspec.Struct):
    up_to_date: bool
    missing_spans: int
    pages: int
    requests: int
    bars_fetched: int
    bars_written: int
    bars_rejected: int
    venue_gaps: list[VenueGapOut]
    fetched_as: str | None
    resampled: bool


class IngestRunOut(msgspec.Struct):
    run_id: str
    job_id: str | None
    series: str
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    bars_written: int
    progress: IngestProgressOut | None
    summary: IngestSummaryOut | None
    error: str | None
    exchange: str
    symbol: str
    timeframe: str
    start: datetime | None
    end: datetime | None


# -- the runs -----------------------------------------------------------------------------------


def parse_ingest(data: IngestRequest) -> tuple[SeriesKey, TimeSpan]:
    """The series and span of a request; ``InvalidInput`` naming the field otherwise."""
    key = SeriesKey(
        Exchange.parse(data.exchange), Symbol.parse(data.symbol), Timeframe.parse(data.timeframe)
    )
    start = parse_instant(data.start, field="start")
    end = parse_instant(data.end, field="end")
    if end <= start:
        raise InvalidInput(
            f"end {end.isoformat()} must be after start {start.isoformat()}", field="end"
        )
    return key, TimeSpan.of(start, end)


def ingest_job_id(key: SeriesKey) -> str:
    return INGEST_JOB_PREFIX + hashlib.sha1(str(key).encode()).hexdigest()[:24]


def ingest_job_name(key: SeriesKey) -> str:
    name = f"ingest.{key.exchange}.{key.symbol.slug}.{key.timeframe}".lower()
    if len(name) > 64:
        name = name[:55] + "." + hashlib.sha1(name.encode()).hexdigest()[:8]
    return name


@dataclass(eq=False)
class IngestRun:
    """One backfill in this process."""

    run_id: str
    series: SeriesKey
    span: TimeSpan | None  # None for a run read back from the job store
    created_at: datetime
    job_id: str | None = None
    status: str = QUEUED
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: HistoryProgress | None = None
    report: EnsureHistoryReport | None = None
    error: str | None = None
    task: asyncio.Task[None] | None = None

    @property
    def done(self) -> bool:
        return self.status not in (QUEUED, RunStatus.RUNNING.value)

    @property
    def bars_written(self) -> int:
        if self.report is not None:
            return self.report.bars_written
        return self.progress.bars_written if self.progress is not None else 0

    def on_progress(self, progress: HistoryProgress) -> None:
        self.progress = progress


class IngestRuns:
    """Backfills started over HTTP: checked, run in the background (at most ``concurrency``
    at once, the others queued), recorded through the job store, cancelled at shutdown."""

    def __init__(
        self,
        *,
        ensure_history: Callable[[], Awaitable[EnsureHistory]],
        exchange_clients: Callable[[], Awaitable[Mapping[Exchange, ExchangeClient]]],
        jobs: Callable[[], Awaitable[JobStore]] | None,
        clock: Clock,
        max_bars: int,
        concurrency: int,
    ) -> None:
        self._ensure_history = ensure_history
        self._exchange_clients = exchange_clients
        self._jobs = jobs
        self._clock = clock
        self._max_bars = max_bars
        self._slots = asyncio.Semaphore(concurrency)
        self._runs: dict[str, IngestRun] = {}

    async def start(self, key: SeriesKey, span: TimeSpan) -> IngestRun:
        clients = await self._exchange_clients()
        client = clients.get(key.exchange)
        if client is None:
            known = ", ".join(sorted(str(e) for e in clients)) or "none"
            raise InvalidInput(
                f"exchange {key.exchange} is not configured; use one of {known}", field="exchange"
            )
        self._check_timeframe(client, key.timeframe)
        self._check_span(key, span)
        await self._check_symbol(client, key.symbol)
        for run in self._runs.values():
            if run.series == key and not run.done:
                raise Conflict(
                    f"{key} is being ingested already (run {run.run_id}); wait for it to finish"
                )
        run = IngestRun(uuid.uuid4().hex, key, span, self._clock.now())
        self._runs[run.run_id] = run
        try:
            run.job_id = await self._record_start(run)
        except BaseException:
            del self._runs[run.run_id]
            raise
        ensure = await self._ensure_history()
        run.task = asyncio.create_task(self._run(run, ensure), name=f"ingest {key}")
        self._prune()
        return run

    async def get(self, run_id: str) -> IngestRun:
        run = self._runs.get(run_id)
        if run is not None:
            return run
        stored = await self._stored_run(run_id)
        if stored is None:
            raise NotFound(f"ingest run {run_id!r} does not exist (or was not kept)")
        return stored

    async def close(self) -> None:
        """Cancel the runs in flight and wait until each is recorded as cancelled."""
        tasks = [r.task for r in self._runs.values() if r.task is not None and not r.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    @asynccontextmanager
    async def lifespan(self, _: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self.close()

    # -- checks ---------------------------------------------------------------------------

    @staticmethod
    def _check_timeframe(client: ExchangeClient, timeframe: Timeframe) -> None:
        supports = client.supported_timeframes()
        if any(s.timeframe is timeframe and s.fetched_as is not None for s in supports):
            return
        offered = ", ".join(s.timeframe.value for s in supports if s.native)
        raise InvalidInput(
            f"timeframe {timeframe} cannot be served by {client.venue}; use one of {offered}",
            field="timeframe",
        )

    def _check_span(self, key: SeriesKey, span: TimeSpan) -> None:
        if span.start >= self._clock.now():
            raise InvalidInput(
                f"start {span.start.isoformat()} is in the future; nothing to fetch", field="start"
            )
        bars = -(-(span.end_ms - span.start_ms) // key.timeframe.ms)
        if bars > self._max_bars:
            raise InvalidInput(
                f"the span holds {bars:,} {key.timeframe} bars; one ingest may span at most"
                f" {self._max_bars:,} (exchanges.ingest_max_bars): split it, or use"
                " 'arbx data fetch'",
                field="end",
            )

    @staticmethod
    async def _check_symbol(client: ExchangeClient, symbol: Symbol) -> None:
        listed = {m.symbol for m in await client.list_markets()}
        if symbol in listed:
            return
        names = [str(s) for s in listed]
        close = difflib.get_close_matches(str(symbol), names, n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InvalidInput(
            f"symbol {symbol} is not listed on {client.venue}{hint}", field="symbol", details=close
        )

    # -- the run --------------------------------------------------------------------------

    async def _run(self, run: IngestRun, ensure: EnsureHistory) -> None:
        try:
            async with self._slots:
                run.status = RunStatus.RUNNING.value
                run.started_at = self._clock.now()
                assert run.span is not None
                run.report = await ensure.execute(run.series, run.span, run.on_progress)
            run.status = RunStatus.SUCCEEDED.value
        except asyncio.CancelledError:
            run.status = RunStatus.CANCELLED.value
            run.error = "cancelled: arbx is shutting down (whole batches written are kept)"
            await self._finish(run)
            raise
        except ArbxError as exc:
            run.status, run.error = RunStatus.FAILED.value, f"{type(exc).__name__}: {exc.message}"
        except Exception as exc:  # a bug: keep the server up, say what happened
            log.exception("ingest run %s of %s crashed", run.run_id, run.series)
            run.status, run.error = RunStatus.FAILED.value, f"{type(exc).__name__}: {exc}"
        await self._finish(run)

    async def _finish(self, run: IngestRun) -> None:
        run.finished_at = self._clock.now()
        if run.error:
            log.warning("ingest run %s of %s %s: %s", run.run_id, run.series, run.status, run.error)
        if self._jobs is None or run.job_id is None:
            return
        started = JobRun(
            id=run.run_id,
            job_id=run.job_id,
            attempt=1,
            trigger=RunTrigger.MANUAL,
            started_at=run.created_at,
        )
        error = None if run.error is None else run.error[:MAX_ERROR_CHARS]
        finished = started.finish(
            RunStatus(run.status), at=run.finished_at, bars_written=run.bars_written, error=error
        )
        try:
            await (await self._jobs()).finish_run(finished)
        except ArbxError as exc:
            log.warning("ingest run %s could not be recorded: %s", run.run_id, exc.message)

    # -- the job store ----------------------------------------------------------------------

    async def _record_start(self, run: IngestRun) -> str | None:
        if self._jobs is None:
            return None
        jobs = await self._jobs()
        job_id = ingest_job_id(run.series)
        try:
            await jobs.get(job_id)
        except NotFound:
            spec = JobSpec(
                name=ingest_job_name(run.series),
                kind="collect",
                series=[str(run.series)],
                interval_s=run.series.timeframe.ms / 1000,
                paused=True,
            )
            job = JobDefinition.from_spec(
                spec, id=job_id, origin=JobOrigin.API, created_at=run.created_at
            )
            # Conflict: saved meanwhile by a concurrent request (or the name is taken: below)
            with contextlib.suppress(Conflict):
                await jobs.save(job)
        started = JobRun(
            id=run.run_id,
            job_id=job_id,
            attempt=1,
            trigger=RunTrigger.MANUAL,
            started_at=run.created_at,
        )
        try:
            await jobs.start_run(started)
        except NotFound:
            log.warning("job name %s is taken by another job; run not recorded", job_id)
            return None
        return job_id

    async def _stored_run(self, run_id: str) -> IngestRun | None:
        if self._jobs is None:
            return None
        jobs = await self._jobs()
        try:
            stored = await jobs.get_run(run_id)
            job = await jobs.get(stored.job_id)
        except NotFound:
            return None
        if not stored.job_id.startswith(INGEST_JOB_PREFIX) or not job.series:
            return None
        return IngestRun(
            run_id=stored.id,
            series=job.series[0],
            span=None,
            created_at=stored.started_at,
            job_id=stored.job_id,
            status=stored.status.value,
            started_at=stored.started_at,
            finished_at=stored.finished_at,
            error=stored.error,
        )

    def _prune(self) -> None:
        finished = [r for r in self._runs.values() if r.done]
        for run in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._runs[run.run_id]


# -- views -------------------------------------------------------------------------------------


def _summary(report: EnsureHistoryReport) -> IngestSummaryOut:
    return IngestSummaryOut(
        up_to_date=report.up_to_date,
        missing_spans=len(report.missing),
        pages=report.pages,
        requests=report.requests,
        bars_fetched=report.bars_fetched,
        bars_written=report.bars_written,
        bars_rejected=report.bars_rejected,
        venue_gaps=[
            VenueGapOut(g.start, g.end, g.bars_missing, g.cause.value) for g in report.venue_gaps
        ],
        fetched_as=None if report.fetched_as is None else report.fetched_as.value,
        resampled=report.resampled,
    )


def run_view(run: IngestRun) -> IngestRunOut:
    p = run.progress
    progress = None
    if p is not None:
        progress = IngestProgressOut(
            p.bars_fetched, p.bars_written, p.pages, p.fraction, p.elapsed_seconds, p.eta_seconds
        )
    return IngestRunOut(
        run_id=run.run_id,
        job_id=run.job_id,
        series=str(run.series),
        status=run.status,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        bars_written=run.bars_written,
        progress=progress,
        summary=None if run.report is None else _summary(run.report),
        error=run.error,
        exchange=str(run.series.exchange),
        symbol=str(run.series.symbol),
        timeframe=str(run.series.timeframe),
        start=None if run.span is None else run.span.start,
        end=None if run.span is None else run.span.end,
    )


# -- handlers ------------------------------------------------------------------------------------


@get(
    "/api/v1/exchanges",
    summary="Configured venues: circuit breaker, base URL and how each timeframe is served",
    tags=["exchanges"],
    guards=[requires(Permission.EXCHANGES_READ)],
)
async def list_exchanges(
    exchange_clients: NamedDependency[dict[Exchange, Any]],
) -> ExchangesOut:
    out = []
    for venue in sorted(exchange_clients):
        client: ExchangeClient = exchange_clients[venue]
        status = client.status()
        out.append(
            ExchangeOut(
                exchange=str(venue),
                base_url=status.base_url,
                breaker=status.breaker.value,
                consecutive_failures=status.consecutive_failures,
                retry_at=status.retry_at,
                last_error=status.last_error,
                timeframes=[
                    TimeframeOut(
                        s.timeframe.value,
                        s.native,
                        None if s.fetched_as is None else s.fetched_as.value,
                    )
                    for s in client.supported_timeframes()
                ],
            )
        )
    return ExchangesOut(out)


@post(
    "/api/v1/ingest",
    summary="Backfill one series from its venue in the background (fetches only what is missing)",
    description=(
        "Checks the request at once (422 naming the field: unknown venue, symbol not listed at"
        " the venue, timeframe the venue cannot serve, inverted or oversized span), then starts"
        " the backfill and answers 202 with its run id; poll GET /api/v1/ingest/{run_id}."
    ),
    tags=["exchanges"],
    status_code=202,
    guards=[requires(Permission.INGEST_RUN)],
)
async def start_ingest(
    data: JSONBody[IngestRequest], ingest_runs: NamedDependency[IngestRuns]
) -> IngestRunOut:
    key, span = parse_ingest(data)
    return run_view(await ingest_runs.start(key, span))


@get(
    "/api/v1/ingest/{run_id:str}",
    summary="An ingest run: status, progress (bars, fraction, ETA), then its report or error",
    tags=["exchanges"],
    guards=[requires(Permission.INGEST_RUN)],
)
async def get_ingest(
    run_id: FromPath[str], ingest_runs: NamedDependency[IngestRuns]
) -> IngestRunOut:
    return run_view(await ingest_runs.get(run_id))


ROUTES = [list_exchanges, start_ingest, get_ingest]
