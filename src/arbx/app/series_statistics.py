"""Statistics of a stored series (``GET /api/v1/series/{key}/stats``, ``arbx data stats``)."""

from __future__ import annotations

import msgspec

from arbx.app.validate_series import SummarizeQuality, stored_span
from arbx.domain.market import SeriesKey
from arbx.domain.market.statistics import SeriesStatistics, series_statistics
from arbx.ports.bar_store import BarStore
from arbx.ports.quality_store import QualityStore


class SeriesStatisticsReport(msgspec.Struct, frozen=True, kw_only=True):
    """The statistics of the bars, and the quality score of the series over its whole span
    (``SummarizeQuality``: coverage, the stored findings and the gaps explained as no trades;
    ``validated`` says whether the quality store holds any finding or gap for it, i.e. whether
    the score reflects a validation or only the coverage)."""

    statistics: SeriesStatistics
    quality_score: float
    validated: bool
    issues_by_severity: dict[str, int]


class DescribeSeries:
    """Read the whole stored series once and describe it; ``NotFound`` when nothing is stored."""

    def __init__(self, bars: BarStore, quality: QualityStore) -> None:
        self._bars = bars
        self._quality = quality

    async def execute(self, key: SeriesKey) -> SeriesStatisticsReport:
        span = await stored_span(self._bars, key, None)
        frame = await self._bars.read(key, span)
        statistics = series_statistics(key, frame)
        summary = await SummarizeQuality(self._bars, self._quality).execute(key, span)
        by_severity: dict[str, int] = {}
        for counts in summary.issues_by_rule.values():
            for severity, n in counts.items():
                by_severity[severity] = by_severity.get(severity, 0) + n
        return SeriesStatisticsReport(
            statistics=statistics,
            quality_score=summary.score.score,
            validated=key in await self._quality.series(),
            issues_by_severity=by_severity,
        )
