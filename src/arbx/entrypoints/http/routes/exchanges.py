"""Exchanges and backfills: venue status, and EnsureHistory as a background ingest run.

``GET /api/v1/exchanges`` shows each configured venue's circuit breaker and how it serves
every timeframe. ``POST /api/v1/ingest`` checks the request at once (venue, symbol listed at
the venue, timeframe, span) and answers 202 with a run id; ``GET /api/v1/ingest/{run_id}``
shows the run's status, progress and, when done, its report or error.

The runs are the use case ``app.ingest_runs.IngestRuns``: recorded through the ``JobStore``
as manual runs of the series' paused collect job, so status, bars written and error outlive
a restart; progress and the detailed report live in the process. At shutdown, runs in
flight are cancelled and recorded as cancelled (nothing partial is stored).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from arbx.app.ensure_history import EnsureHistoryReport
from arbx.app.ingest_runs import IngestRun, IngestRuns
from arbx.domain.auth import Permission
from arbx.domain.errors import InvalidInput
from arbx.domain.market import Exchange, SeriesKey, Symbol, Timeframe, TimeSpan
from arbx.entrypoints.http.security import requires
from arbx.entrypoints.schemas.spans import bounded_span
from arbx.ports.exchange import ExchangeClient

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
    # past the venue's own closed edge: asked again on the next run
    not_fetched: list[TimeSpan] = msgspec.field(default_factory=list)
    bars_replaced: int = 0  # stored settle-window bars the venue changed since
    replaced: list[datetime] = msgspec.field(default_factory=list)


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


# -- parsing ----------------------------------------------------------------------------------


def parse_ingest(data: IngestRequest) -> tuple[SeriesKey, TimeSpan]:
    """The series and span of a request; ``InvalidInput`` naming the field otherwise."""
    key = SeriesKey(
        Exchange.parse(data.exchange), Symbol.parse(data.symbol), Timeframe.parse(data.timeframe)
    )
    if not data.end:
        raise InvalidInput("end is required: the span to fetch ends there", field="end")
    return key, bounded_span(data.start, data.end)


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
        not_fetched=report.not_fetched,
        bars_replaced=report.bars_replaced,
        replaced=[r.ts for r in report.replaced],
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
