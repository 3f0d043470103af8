"""Repair the open gaps of a stored series by a policy; never overwrite a stored bar."""

from __future__ import annotations

import msgspec

from arbx.app.detect_gaps import DetectGaps
from arbx.app.validate_series import stored_span
from arbx.domain.errors import InvalidInput
from arbx.domain.market import BAR_COLUMNS, SeriesKey, TimeSpan
from arbx.domain.quality import DataGap, GapStatus, RepairPolicy, repair_gaps
from arbx.ports.bar_store import BarStore
from arbx.ports.quality_store import QualityStore


class RepairReport(msgspec.Struct, frozen=True):
    key: SeriesKey
    span: TimeSpan
    policy: RepairPolicy
    reference: SeriesKey | None
    filled_bars: int
    unfilled_bars: int
    written: int
    dry_run: bool
    gaps: list[DataGap]


class RepairSeries:
    """Fill (or accept) the open gaps of a series and record what was done.

    Gaps come from the QualityStore; when none are stored for the span, they are detected
    first. Filled bars are written to the bar store only where no bar is stored (a bar that
    arrived meanwhile wins), and the gaps are recorded as ``filled`` with their source, which
    is how a filled bar stays recognisable. ``dry_run`` computes everything and stores nothing.
    """

    def __init__(self, bars: BarStore, quality: QualityStore) -> None:
        self._bars = bars
        self._quality = quality
        self._detect = DetectGaps(bars, quality)

    async def execute(
        self,
        key: SeriesKey,
        policy: RepairPolicy,
        span: TimeSpan | None = None,
        *,
        reference: SeriesKey | None = None,
        basis_window: int = 60,
        dry_run: bool = False,
    ) -> RepairReport:
        if policy is RepairPolicy.FROM_VENUE and reference is None:
            raise InvalidInput(
                "policy 'venue' needs a reference series (the same pair on another venue)",
                field="reference",
            )
        if reference is not None and not await self._bars.coverage(reference):
            raise InvalidInput(
                f"reference series {reference} has no stored bars; import or fetch it first",
                field="reference",
            )
        checked = await stored_span(self._bars, key, span)
        gaps = await self._quality.gaps(key, checked)
        if not gaps:
            detected = await self._detect.execute(key, checked, store=not dry_run)
            gaps, checked = detected.gaps, detected.span
        else:
            checked = TimeSpan(
                min(checked.start, gaps[0].start), max(checked.end, max(g.end for g in gaps))
            )
        lookback = key.timeframe.duration * max(basis_window, 1)
        window = TimeSpan(checked.start - lookback, checked.end + lookback)
        frame = await self._bars.read(key, window)
        ref = None
        if reference is not None:
            ref = (reference, await self._bars.read(reference, window))
        result = repair_gaps(key, frame, gaps, policy, reference=ref, basis_window=basis_window)
        written = 0
        if not dry_run:
            if not result.filled.is_empty():
                fresh = await self._bars.read(key, window)
                new = result.filled.join(fresh.select("ts"), on="ts", how="anti")
                written = await self._bars.write(key, new.select(BAR_COLUMNS))
            await self._quality.replace_gaps(key, checked, result.gaps)
        return RepairReport(
            key=key,
            span=checked,
            policy=policy,
            reference=reference,
            filled_bars=result.filled_bars,
            unfilled_bars=sum(g.bars_missing for g in result.gaps if g.status is GapStatus.OPEN),
            written=written,
            dry_run=dry_run,
            gaps=result.gaps,
        )
