"""A QualityStore held in dicts: the reference adapter for the contract suite and use cases."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

from arbx.adapters.issue_filter import IssueFilter
from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.quality import DataGap, GapStatus, Severity, ValidationIssue
from arbx.domain.quality.records import normalize_gaps, normalize_issues
from arbx.ports.quality_store import QualityStore


class MemoryQualityStore(QualityStore):
    def __init__(self) -> None:
        self._issues: dict[SeriesKey, list[ValidationIssue]] = {}
        self._gaps: dict[SeriesKey, list[DataGap]] = {}
        self._lock = asyncio.Lock()

    async def replace_issues(
        self, key: SeriesKey, span: TimeSpan, issues: Sequence[ValidationIssue]
    ) -> int:
        incoming = normalize_issues(key, span, issues)
        async with self._lock:
            kept = [i for i in self._issues.get(key, []) if not span.contains(i.ts)]
            merged = sorted([*kept, *incoming], key=lambda i: (i.ts, i.rule, i.detail))
            if merged:
                self._issues[key] = merged
            else:
                self._issues.pop(key, None)
        return len(incoming)

    def _select(self, key: SeriesKey, chosen: IssueFilter) -> list[ValidationIssue]:
        return [i for i in self._issues.get(key, []) if chosen.matches(i)]

    async def issues(
        self,
        key: SeriesKey,
        span: TimeSpan,
        *,
        severity: Severity | None = None,
        rule: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ValidationIssue]:
        chosen = IssueFilter(span, severity, rule, limit, offset)
        return chosen.page(self._select(key, chosen))

    async def count_issues(self, key: SeriesKey, span: TimeSpan) -> dict[tuple[str, Severity], int]:
        return dict(Counter((i.rule, i.severity) for i in self._select(key, IssueFilter(span))))

    async def replace_gaps(self, key: SeriesKey, span: TimeSpan, gaps: Sequence[DataGap]) -> int:
        incoming = normalize_gaps(key, span, gaps)
        async with self._lock:
            kept = [g for g in self._gaps.get(key, []) if not g.span.overlaps(span)]
            starts = {g.start for g in kept}
            for gap in incoming:
                if gap.start in starts:
                    raise InvalidInput(
                        f"a stored gap outside {span} already starts at {gap.start.isoformat()}",
                        field="gaps",
                    )
            merged = kept + incoming
            if merged:
                self._gaps[key] = sorted(merged, key=lambda g: g.start)
            else:
                self._gaps.pop(key, None)
        return len(incoming)

    async def gaps(
        self, key: SeriesKey, span: TimeSpan, *, status: GapStatus | None = None
    ) -> list[DataGap]:
        return [
            g
            for g in self._gaps.get(key, [])
            if g.span.overlaps(span) and (status is None or g.status is status)
        ]

    async def series(self) -> list[SeriesKey]:
        return sorted(set(self._issues) | set(self._gaps))
