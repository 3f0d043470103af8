"""Validate a stored series, store its findings; summarize and list what is stored.

``stored_span`` and ``peer_bars`` are shared by the other quality use cases.
"""

from __future__ import annotations

from collections import Counter

import msgspec
import polars as pl

from arbx.domain.errors import InvalidInput, NotFound
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.quality import (
    GapCause,
    GapStatus,
    SeriesScore,
    Severity,
    ValidationConfig,
    ValidationIssue,
    expected_slots,
    issues_to_frame,
    series_score,
    validate_series,
)
from arbx.domain.suggestions import unknown
from arbx.ports.bar_store import BarStore
from arbx.ports.clock import Clock
from arbx.ports.quality_store import QualityStore


async def stored_span(bars: BarStore, key: SeriesKey, span: TimeSpan | None) -> TimeSpan:
    """``span`` as asked, or the stored series from its first bar to its last bar's close.

    Raises ``NotFound`` when no span is given and the series holds no bars.
    """
    if span is not None:
        return span
    stored = await bars.list_series()
    for info in stored:
        if info.key == key:
            return TimeSpan(info.first_ts, info.last_ts + key.timeframe.duration)
    raise NotFound(
        f"no bars are stored for {key}; import or collect some first"
        f" ({unknown('series', str(key), [str(i.key) for i in stored])})"
    )


async def peer_bars(
    bars: BarStore, key: SeriesKey, span: TimeSpan
) -> dict[SeriesKey, pl.DataFrame]:
    """The same pair and timeframe on the other venues, over ``span`` (non-empty ones)."""
    peers: dict[SeriesKey, pl.DataFrame] = {}
    for info in await bars.list_series():
        other = info.key
        if other == key or other.symbol != key.symbol or other.timeframe != key.timeframe:
            continue
        frame = await bars.read(other, span)
        if not frame.is_empty():
            peers[other] = frame
    return peers


class ValidationReport(msgspec.Struct, frozen=True):
    """What one validation run found; the findings themselves are in the QualityStore."""

    key: SeriesKey
    span: TimeSpan
    bars: int
    score: SeriesScore
    issues_stored: int
    by_severity: dict[str, int]
    compared_with: list[SeriesKey]


class ValidateSeries:
    """Run every validation rule on a stored series and replace its stored findings.

    The cross-venue rule compares with the same pair and timeframe on every other venue the
    bar store holds (``cross_venue=False`` skips it).
    """

    def __init__(
        self,
        bars: BarStore,
        quality: QualityStore,
        clock: Clock,
        config: ValidationConfig | None = None,
    ) -> None:
        self._bars = bars
        self._quality = quality
        self._clock = clock
        self._config = config or ValidationConfig()

    async def execute(
        self,
        key: SeriesKey,
        span: TimeSpan | None = None,
        *,
        cross_venue: bool = True,
        config: ValidationConfig | None = None,
    ) -> ValidationReport:
        checked = await stored_span(self._bars, key, span)
        frame = await self._bars.read(key, checked)
        others = await peer_bars(self._bars, key, checked) if cross_venue else {}
        result = validate_series(
            key,
            frame,
            now=self._clock.now(),
            others=others,
            config=config or self._config,
            span=checked,
        )
        issues = result.issue_list()
        stored = await self._quality.replace_issues(key, checked, issues)
        return ValidationReport(
            key=key,
            span=checked,
            bars=frame.height,
            score=result.score,
            issues_stored=stored,
            by_severity=dict(Counter(i.severity.value for i in issues)),
            compared_with=sorted(others),
        )


class QualitySummary(msgspec.Struct, frozen=True):
    """The stored quality of one series over a span (``GET /api/v1/quality``)."""

    key: SeriesKey
    span: TimeSpan
    score: SeriesScore
    issues_by_rule: dict[str, dict[str, int]]
    gaps: int
    bars_missing: int
    gaps_by_cause: dict[str, int]
    gaps_by_status: dict[str, int]


class SummarizeQuality:
    """Score a series from what is stored: its bars' coverage, its findings and its gaps.

    Missing bars explained as ``no_trades`` (or accepted by the user) count as covered.
    """

    def __init__(self, bars: BarStore, quality: QualityStore) -> None:
        self._bars = bars
        self._quality = quality

    async def execute(self, key: SeriesKey, span: TimeSpan | None = None) -> QualitySummary:
        checked = await stored_span(self._bars, key, span)
        frame = await self._bars.read(key, checked)
        counts = await self._quality.count_issues(key, checked)
        issues = await self._quality.issues(key, checked)
        gaps = await self._quality.gaps(key, checked)
        excused = sum(
            _clipped_bars(g.span, checked, key)
            for g in gaps
            if g.cause is GapCause.NO_TRADES or g.status is GapStatus.ACCEPTED
        )
        score = series_score(
            issues_to_frame(issues),
            present_bars=frame.height,
            expected_bars=expected_slots(key, frame.get_column("ts"), checked),
            excused_bars=excused,
        )
        by_rule: dict[str, dict[str, int]] = {}
        for (rule, severity), n in sorted(counts.items(), key=lambda kv: kv[0][0]):
            by_rule.setdefault(rule, {})[severity.value] = n
        return QualitySummary(
            key=key,
            span=checked,
            score=score,
            issues_by_rule=by_rule,
            gaps=len(gaps),
            bars_missing=sum(g.bars_missing for g in gaps),
            gaps_by_cause=dict(Counter(g.cause.value for g in gaps)),
            gaps_by_status=dict(Counter(g.status.value for g in gaps)),
        )


def _clipped_bars(gap: TimeSpan, span: TimeSpan, key: SeriesKey) -> int:
    inside = gap.intersect(span)
    return 0 if inside is None else (inside.end_ms - inside.start_ms) // key.timeframe.ms


class IssuePage(msgspec.Struct, frozen=True):
    key: SeriesKey
    span: TimeSpan
    issues: list[ValidationIssue]
    next_offset: int | None


class ListIssues:
    """Page through the stored findings of a series (``GET /api/v1/quality/issues``)."""

    def __init__(self, quality: QualityStore, max_limit: int = 1000) -> None:
        self._quality = quality
        self.max_limit = max_limit

    async def execute(
        self,
        key: SeriesKey,
        span: TimeSpan | None = None,
        *,
        severity: Severity | None = None,
        rule: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> IssuePage:
        if not 1 <= limit <= self.max_limit:
            raise InvalidInput(f"limit must be between 1 and {self.max_limit}", field="limit")
        if offset < 0:
            raise InvalidInput("offset must be >= 0", field="offset")
        checked = span or TimeSpan.everything()
        found = await self._quality.issues(
            key, checked, severity=severity, rule=rule, limit=limit + 1, offset=offset
        )
        more = len(found) > limit
        return IssuePage(key, checked, found[:limit], offset + limit if more else None)
