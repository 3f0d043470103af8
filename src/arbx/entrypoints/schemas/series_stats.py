"""The answer of the series statistics (HTTP and ``arbx data stats --json`` alike)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from arbx.app.series_statistics import SeriesStatisticsReport
from arbx.domain.market.statistics import Distribution, GapSummary, MonthCoverage


class SeriesStatsOut(msgspec.Struct):
    series: str
    exchange: str
    symbol: str
    timeframe: str
    first_ts: datetime
    last_ts: datetime
    rows: int
    expected_bars: int
    coverage: float
    quality_score: float
    validated: bool
    issues_by_severity: dict[str, int]
    gaps: GapSummary
    months: list[MonthCoverage]
    returns: Distribution
    volume: Distribution
    zero_volume_bars: int
    total_volume: float

    @classmethod
    def of(cls, report: SeriesStatisticsReport) -> SeriesStatsOut:
        s = report.statistics
        return cls(
            series=str(s.key),
            exchange=str(s.key.exchange),
            symbol=str(s.key.symbol),
            timeframe=str(s.key.timeframe),
            first_ts=s.first_ts,
            last_ts=s.last_ts,
            rows=s.rows,
            expected_bars=s.expected_bars,
            coverage=s.coverage,
            quality_score=report.quality_score,
            validated=report.validated,
            issues_by_severity=report.issues_by_severity,
            gaps=s.gaps,
            months=s.months,
            returns=s.returns,
            volume=s.volume,
            zero_volume_bars=s.zero_volume_bars,
            total_volume=s.total_volume,
        )
