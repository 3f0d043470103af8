"""The optional filters and page of ``QualityStore.issues``, checked once for every adapter."""

from __future__ import annotations

from dataclasses import dataclass

from arbx.domain.errors import InvalidInput
from arbx.domain.market import TimeSpan
from arbx.domain.quality import Severity, ValidationIssue


@dataclass(frozen=True, slots=True)
class IssueFilter:
    """Issues with ts in ``span`` and, when given, this ``severity`` and ``rule``; the page
    ``offset`` .. ``offset + limit`` of them (``limit`` None: all the rest)."""

    span: TimeSpan
    severity: Severity | None = None
    rule: str | None = None
    limit: int | None = None
    offset: int = 0

    def __post_init__(self) -> None:
        if self.offset < 0 or (self.limit is not None and self.limit < 0):
            raise InvalidInput("limit and offset must be >= 0", field="limit")

    def equalities(self) -> list[tuple[str, str]]:
        """(column, value) pairs an SQL store adds to its WHERE clause, one per filter set."""
        pairs = []
        if self.severity is not None:
            pairs.append(("severity", self.severity.value))
        if self.rule is not None:
            pairs.append(("rule", self.rule))
        return pairs

    def matches(self, issue: ValidationIssue) -> bool:
        return (
            self.span.contains(issue.ts)
            and (self.severity is None or issue.severity is self.severity)
            and (self.rule is None or issue.rule == self.rule)
        )

    def page(self, issues: list[ValidationIssue]) -> list[ValidationIssue]:
        """The page of ``issues`` (already filtered and ordered)."""
        rest = issues[self.offset :]
        return rest if self.limit is None else rest[: self.limit]
