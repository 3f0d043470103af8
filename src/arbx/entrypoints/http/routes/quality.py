"""Data quality: per-series scores, stored findings and gaps, checks and gap repair."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import FromQuery, JSONBody, QueryParameter

from arbx.app.detect_gaps import DetectGaps, ListGaps
from arbx.app.repair_series import RepairSeries
from arbx.app.validate_series import ListIssues, SummarizeQuality, ValidateSeries
from arbx.domain.auth import Permission
from arbx.domain.market import SeriesKey
from arbx.domain.quality import DataGap, GapStatus, SeriesScore, Severity
from arbx.entrypoints.http.security import requires
from arbx.entrypoints.schemas.series import RepairSource
from arbx.entrypoints.schemas.spans import closed_span, optional_span

TIME_HELP = "ISO-8601 or epoch ms"
Symbol = Annotated[str, QueryParameter(examples=[Example(value="BTC/USDC")])]
Start = Annotated[str | None, QueryParameter(description=f"{TIME_HELP} (inclusive)")]
End = Annotated[str | None, QueryParameter(description=f"{TIME_HELP} (exclusive)")]


class ScoreOut(msgspec.Struct):
    """The per-series score (see README "Data quality") and what it is made of."""

    score: float
    coverage: float
    expected_bars: int
    present_bars: int
    excused_bars: int
    error_bars: int
    warning_bars: int
    info_bars: int
    stale_bars: int
    stale_share: float

    @classmethod
    def of(cls, score: SeriesScore) -> ScoreOut:
        return cls(
            score=score.score,
            coverage=score.coverage,
            expected_bars=score.expected_bars,
            present_bars=score.present_bars,
            excused_bars=score.excused_bars,
            error_bars=score.error_bars,
            warning_bars=score.warning_bars,
            info_bars=score.info_bars,
            stale_bars=score.stale_bars,
            stale_share=score.stale_share,
        )


class GapSummaryOut(msgspec.Struct):
    count: int
    bars_missing: int
    by_cause: dict[str, int]
    by_status: dict[str, int]


class QualityOut(msgspec.Struct):
    series: str
    start: datetime
    end: datetime
    score: ScoreOut
    issues_by_rule: dict[str, dict[str, int]]
    issues_by_severity: dict[str, int]
    gaps: GapSummaryOut


class IssueOut(msgspec.Struct):
    ts: datetime
    rule: str
    severity: str
    observed: float | None
    expected: float | None
    detail: str


class IssuesPage(msgspec.Struct):
    series: str
    start: datetime
    end: datetime
    count: int
    next_offset: int | None
    issues: list[IssueOut]


class GapOut(msgspec.Struct):
    start: datetime
    end: datetime
    bars_missing: int
    cause: str
    status: str
    fill_source: str | None

    @classmethod
    def of(cls, gap: DataGap) -> GapOut:
        return cls(
            gap.start,
            gap.end,
            gap.bars_missing,
            gap.cause.value,
            gap.status.value,
            gap.fill_source,
        )


class GapsOut(msgspec.Struct):
    series: str
    count: int
    bars_missing: int
    gaps: list[GapOut]


class SeriesRequest(msgspec.Struct, forbid_unknown_fields=True):
    exchange: str
    symbol: str
    timeframe: str
    start: str | None = None
    end: str | None = None


class CheckRequest(SeriesRequest, forbid_unknown_fields=True):
    cross_venue: bool = True


class CheckOut(msgspec.Struct):
    series: str
    start: datetime
    end: datetime
    bars: int
    score: ScoreOut
    issues_stored: int
    issues_by_severity: dict[str, int]
    compared_with: list[str]
    gaps: GapSummaryOut


class RepairRequest(SeriesRequest, forbid_unknown_fields=True):
    policy: str = "leave"
    reference: str | None = None
    basis_window: int = 60
    dry_run: bool = False


class RepairOut(msgspec.Struct):
    series: str
    policy: str
    reference: str | None
    start: datetime
    end: datetime
    filled_bars: int
    unfilled_bars: int
    written: int
    dry_run: bool
    gaps: list[GapOut]


@get(
    "/quality",
    summary="Quality of one series: score, stored findings by rule and severity, gaps",
    description=(
        "Computed from what is stored: the bars, the findings of the last validation (import"
        " and `POST /api/v1/quality/check` record them) and the detected gaps. Without"
        " `start`/`end` the whole stored series is scored."
    ),
    guards=[requires(Permission.QUALITY_READ)],
)
async def get_quality(
    summarize_quality: NamedDependency[SummarizeQuality],
    exchange: FromQuery[str],
    symbol: Symbol,
    timeframe: FromQuery[str],
    start: Start = None,
    end: End = None,
) -> QualityOut:
    key = SeriesKey.of(exchange, symbol, timeframe)
    summary = await summarize_quality.execute(key, closed_span(start, end))
    by_severity: dict[str, int] = {}
    for counts in summary.issues_by_rule.values():
        for severity, n in counts.items():
            by_severity[severity] = by_severity.get(severity, 0) + n
    return QualityOut(
        series=str(key),
        start=summary.span.start,
        end=summary.span.end,
        score=ScoreOut.of(summary.score),
        issues_by_rule=summary.issues_by_rule,
        issues_by_severity=by_severity,
        gaps=GapSummaryOut(
            count=summary.gaps,
            bars_missing=summary.bars_missing,
            by_cause=summary.gaps_by_cause,
            by_status=summary.gaps_by_status,
        ),
    )


@get(
    "/quality/issues",
    summary="Stored findings of one series, paged and filtered by severity or rule",
    description="Pages by `offset`/`limit`; `next_offset` is null on the last page.",
    guards=[requires(Permission.QUALITY_READ)],
)
async def get_issues(
    list_issues: NamedDependency[ListIssues],
    exchange: FromQuery[str],
    symbol: Symbol,
    timeframe: FromQuery[str],
    start: Start = None,
    end: End = None,
    severity: Annotated[
        str | None, QueryParameter(description="info, warning or error", required=False)
    ] = None,
    rule: Annotated[
        str | None, QueryParameter(description="a rule name, e.g. stale_run", required=False)
    ] = None,
    limit: Annotated[int, QueryParameter(description="findings per page (1..1000)")] = 100,
    offset: Annotated[int, QueryParameter(description="findings to skip")] = 0,
) -> IssuesPage:
    key = SeriesKey.of(exchange, symbol, timeframe)
    page = await list_issues.execute(
        key,
        optional_span(start, end),
        severity=Severity.parse(severity) if severity else None,
        rule=rule.strip() if rule else None,
        limit=limit,
        offset=offset,
    )
    return IssuesPage(
        series=str(key),
        start=page.span.start,
        end=page.span.end,
        count=len(page.issues),
        next_offset=page.next_offset,
        issues=[
            IssueOut(i.ts, i.rule, i.severity.value, i.observed, i.expected, i.detail)
            for i in page.issues
        ],
    )


@get(
    "/gaps",
    summary="Stored gaps of one series, optionally of one status",
    guards=[requires(Permission.QUALITY_READ)],
)
async def get_gaps(
    list_gaps: NamedDependency[ListGaps],
    exchange: FromQuery[str],
    symbol: Symbol,
    timeframe: FromQuery[str],
    start: Start = None,
    end: End = None,
    status: Annotated[
        str | None, QueryParameter(description="open, filled or accepted", required=False)
    ] = None,
) -> GapsOut:
    key = SeriesKey.of(exchange, symbol, timeframe)
    gaps = await list_gaps.execute(
        key, optional_span(start, end), status=GapStatus.parse(status) if status else None
    )
    return GapsOut(
        series=str(key),
        count=len(gaps),
        bars_missing=sum(g.bars_missing for g in gaps),
        gaps=[GapOut.of(g) for g in gaps],
    )


@post(
    "/quality/check",
    summary="Validate one stored series and detect its gaps; store the findings",
    description=(
        "Runs every validation rule (cross-venue against the same pair on the other stored"
        " venues unless `cross_venue` is false) and gap detection; the findings replace the"
        " stored ones for the span. Decisions already taken on gaps (filled, accepted) are kept."
    ),
    status_code=200,
    guards=[requires(Permission.QUALITY_REPAIR)],
)
async def check_series(
    data: JSONBody[CheckRequest],
    validate_series: NamedDependency[ValidateSeries],
    detect_gaps: NamedDependency[DetectGaps],
) -> CheckOut:
    key = SeriesKey.of(data.exchange, data.symbol, data.timeframe)
    span = closed_span(data.start, data.end)
    report = await validate_series.execute(key, span, cross_venue=data.cross_venue)
    gaps = await detect_gaps.execute(key, span)
    return CheckOut(
        series=str(key),
        start=report.span.start,
        end=report.span.end,
        bars=report.bars,
        score=ScoreOut.of(report.score),
        issues_stored=report.issues_stored,
        issues_by_severity=report.by_severity,
        compared_with=[str(k) for k in report.compared_with],
        gaps=GapSummaryOut(
            count=len(gaps.gaps),
            bars_missing=gaps.bars_missing,
            by_cause=gaps.by_cause,
            by_status=gaps.by_status,
        ),
    )


@post(
    "/gaps/repair",
    summary="Repair the open gaps of one series: leave (accept), ffill, or fill from a venue",
    description=(
        "`policy`: `leave` marks the gaps accepted; `ffill` repeats the last close with zero"
        " volume; `venue` copies the `reference` series (a venue name for the same pair, or"
        " EXCHANGE:BASE/QUOTE:TF) scaled by the median basis over `basis_window` bars. Stored"
        " bars are never overwritten; filled gaps are recorded with their source. `reference`"
        " goes with `policy` `venue` only. `dry_run` computes the repair and writes no bars."
    ),
    status_code=200,
    guards=[requires(Permission.QUALITY_REPAIR)],
)
async def repair_gaps(
    data: JSONBody[RepairRequest], repair_series: NamedDependency[RepairSeries]
) -> RepairOut:
    key = SeriesKey.of(data.exchange, data.symbol, data.timeframe)
    source = RepairSource.parse(key, data.policy, data.reference, data.basis_window)
    report = await repair_series.execute(
        key,
        source.policy,
        optional_span(data.start, data.end),
        reference=source.reference,
        basis_window=source.basis_window,
        dry_run=data.dry_run,
    )
    return RepairOut(
        series=str(key),
        policy=report.policy.value,
        reference=None if report.reference is None else str(report.reference),
        start=report.span.start,
        end=report.span.end,
        filled_bars=report.filled_bars,
        unfilled_bars=report.unfilled_bars,
        written=report.written,
        dry_run=report.dry_run,
        gaps=[GapOut.of(g) for g in report.gaps],
    )


ROUTES = [get_quality, get_issues, get_gaps, check_series, repair_gaps]
