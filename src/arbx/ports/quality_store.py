"""The quality store port: validation findings and gaps, per series."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Protocol

from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.quality import DataGap, GapStatus, Severity, ValidationIssue


class QualityStore(Protocol):
    """What the quality checks found, per series; a check's findings replace the previous ones.

    Contract (tests/contract/test_quality_store.py holds every adapter to it):
    - Times are kept to the millisecond (UTC); a non-finite ``observed``/``expected`` is kept
      as None.
    - ``replace_issues(key, span, issues)`` atomically deletes the stored issues of ``key``
      with ``span.start <= ts < span.end`` and stores ``issues``; every issue must belong to
      ``key`` and lie in ``span``, else ``InvalidInput`` and nothing changes. Replacing with the
      same findings twice leaves the same state (idempotent). Returns how many it stored.
    - ``issues(key, span, severity=, rule=, limit=, offset=)`` returns the stored issues of
      ``key`` in ``span`` (optionally one severity / one rule), sorted by (ts, rule, detail),
      paged by ``offset``/``limit``.
    - ``count_issues(key, span)`` returns {(rule, severity): count} over the same selection.
    - ``replace_gaps(key, span, gaps)`` atomically deletes the stored gaps of ``key`` that
      overlap ``span`` and stores ``gaps``; every gap must belong to ``key`` and overlap
      ``span``, and no two may share a start, else ``InvalidInput`` and nothing changes.
      Returns how many it stored.
    - ``gaps(key, span, status=)`` returns the stored gaps of ``key`` overlapping ``span``
      (optionally of one status), sorted by start.
    - ``series()`` lists every series with stored issues or gaps, sorted.
    """

    @abstractmethod
    async def replace_issues(
        self, key: SeriesKey, span: TimeSpan, issues: Sequence[ValidationIssue]
    ) -> int: ...

    @abstractmethod
    async def issues(
        self,
        key: SeriesKey,
        span: TimeSpan,
        *,
        severity: Severity | None = None,
        rule: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ValidationIssue]: ...

    @abstractmethod
    async def count_issues(
        self, key: SeriesKey, span: TimeSpan
    ) -> dict[tuple[str, Severity], int]: ...

    @abstractmethod
    async def replace_gaps(
        self, key: SeriesKey, span: TimeSpan, gaps: Sequence[DataGap]
    ) -> int: ...

    @abstractmethod
    async def gaps(
        self, key: SeriesKey, span: TimeSpan, *, status: GapStatus | None = None
    ) -> list[DataGap]: ...

    @abstractmethod
    async def series(self) -> list[SeriesKey]: ...
