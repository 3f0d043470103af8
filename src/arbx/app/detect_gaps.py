"""Detect the gaps of a stored series, store them; list stored gaps."""

from __future__ import annotations

from collections import Counter

import msgspec

from arbx.app.validate_series import peer_bars, stored_span
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.quality import DataGap, GapCause, GapStatus, detect_gaps, merge_gap_status
from arbx.ports.bar_store import BarStore
from arbx.ports.quality_store import QualityStore


class GapReport(msgspec.Struct, frozen=True):
    key: SeriesKey
    span: TimeSpan
    gaps: list[DataGap]
    bars_missing: int
    by_cause: dict[str, int]
    by_status: dict[str, int]
    evidence: list[SeriesKey]


class DetectGaps:
    """Find the missing grid bars of a series, tell their cause, and store them.

    Evidence for the cause is the same pair and timeframe on the other venues the bar store
    holds. Decisions already stored (a gap accepted or filled) are kept: a re-detected gap
    keeps its status, and filled gaps stay recorded (their bars are the fill). The span is
    widened to the stored gaps that overlap it, so no stored gap is cut in two.
    """

    def __init__(
        self, bars: BarStore, quality: QualityStore, *, quiet_limit_bars: int = 60
    ) -> None:
        self._bars = bars
        self._quality = quality
        self._quiet_limit = quiet_limit_bars

    async def execute(
        self,
        key: SeriesKey,
        span: TimeSpan | None = None,
        *,
        quiet_limit_bars: int | None = None,
        store: bool = True,
    ) -> GapReport:
        """Detect (and, unless ``store`` is False, record) the gaps of ``key`` in ``span``."""
        checked = await stored_span(self._bars, key, span)
        stored = await self._quality.gaps(key, checked)
        if stored:
            checked = TimeSpan(
                min(checked.start, stored[0].start), max(checked.end, max(g.end for g in stored))
            )
        frame = await self._bars.read(key, checked)
        evidence = await peer_bars(self._bars, key, checked)
        detected = detect_gaps(
            key,
            frame,
            span=checked,
            evidence=evidence,
            quiet_limit_bars=self._quiet_limit if quiet_limit_bars is None else quiet_limit_bars,
        )
        merged = _keep_collector_causes(merge_gap_status(detected, stored), stored)
        if store:
            await self._quality.replace_gaps(key, checked, merged)
        return GapReport(
            key=key,
            span=checked,
            gaps=merged,
            bars_missing=sum(g.bars_missing for g in merged if g.status is not GapStatus.FILLED),
            by_cause=dict(Counter(g.cause.value for g in merged)),
            by_status=dict(Counter(g.status.value for g in merged)),
            evidence=sorted(evidence),
        )


def _keep_collector_causes(merged: list[DataGap], stored: list[DataGap]) -> list[DataGap]:
    """A stored gap the collector knows more about than the evidence can tell (``pending``:
    the venue may still publish it, ``not_served``: the venue does not serve it) keeps its
    cause when it is detected again with the same extent."""
    known = {
        (g.start, g.end): g.cause
        for g in stored
        if g.cause in (GapCause.PENDING, GapCause.NOT_SERVED)
    }
    if not known:
        return merged
    return [
        msgspec.structs.replace(g, cause=known[(g.start, g.end)])
        if (g.start, g.end) in known
        else g
        for g in merged
    ]


class ListGaps:
    """The stored gaps of a series (``GET /api/v1/gaps``), optionally of one status."""

    def __init__(self, quality: QualityStore) -> None:
        self._quality = quality

    async def execute(
        self, key: SeriesKey, span: TimeSpan | None = None, *, status: GapStatus | None = None
    ) -> list[DataGap]:
        return await self._quality.gaps(key, span or TimeSpan.everything(), status=status)
