"""Rules every quality store applies before it replaces findings (one place, every adapter)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan, from_ms, to_ms
from arbx.domain.quality.model import DataGap, ValidationIssue


def _ms(moment: datetime) -> datetime:
    return from_ms(to_ms(moment))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def normalize_issues(
    key: SeriesKey, span: TimeSpan, issues: Sequence[ValidationIssue]
) -> list[ValidationIssue]:
    """The issues as a store keeps them (ms times, finite numbers or None), checked first.

    Raises ``InvalidInput`` when an issue belongs to another series or lies outside ``span``.
    """
    result = []
    for issue in issues:
        if issue.series != key:
            raise InvalidInput(
                f"issue of {issue.series} cannot be stored under {key}", field="issues"
            )
        if not span.contains(issue.ts):
            raise InvalidInput(
                f"issue at {issue.ts.isoformat()} lies outside {span}", field="issues"
            )
        result.append(
            ValidationIssue(
                series=key,
                ts=_ms(issue.ts),
                rule=issue.rule,
                severity=issue.severity,
                observed=_finite(issue.observed),
                expected=_finite(issue.expected),
                detail=issue.detail,
            )
        )
    return sorted(result, key=issue_order)


def issue_order(issue: ValidationIssue) -> tuple[datetime, str, str]:
    return (issue.ts, issue.rule, issue.detail)


def normalize_gaps(key: SeriesKey, span: TimeSpan, gaps: Sequence[DataGap]) -> list[DataGap]:
    """The gaps as a store keeps them (ms times), checked: own series, overlapping ``span``,
    positive length, unique starts. Raises ``InvalidInput`` otherwise."""
    result = []
    starts: set[datetime] = set()
    for gap in gaps:
        if gap.series != key:
            raise InvalidInput(f"gap of {gap.series} cannot be stored under {key}", field="gaps")
        start, end = _ms(gap.start), _ms(gap.end)
        if not start < end or gap.bars_missing < 1:
            raise InvalidInput(
                f"gap [{start.isoformat()}, {end.isoformat()}) is empty", field="gaps"
            )
        if not TimeSpan(start, end).overlaps(span):
            raise InvalidInput(
                f"gap [{start.isoformat()}, {end.isoformat()}) does not overlap {span}",
                field="gaps",
            )
        if start in starts:
            raise InvalidInput(f"two gaps start at {start.isoformat()}", field="gaps")
        starts.add(start)
        result.append(
            DataGap(key, start, end, gap.bars_missing, gap.cause, gap.status, gap.fill_source)
        )
    return sorted(result, key=lambda g: g.start)
