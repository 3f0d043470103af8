"""Gap detection on the timeframe grid, and what caused each gap as far as evidence tells.

A gap is a maximal run of grid slots without a bar, inside the checked span (or between the
first and last bar when no span is given). Its cause:

- ``no_trades`` when the evidence series (the same pair on other venues, same timeframe) cover
  the gap and none of them traded in it (quiet market), or when the venue omits bars for quiet
  intervals (Kraken, Coinbase: ``OMITS_EMPTY_BARS``) and the gap is at most
  ``quiet_limit_bars`` long;
- ``outage`` when the evidence series traded in at least ``outage_share`` of the missing slots
  and the venue does not explain the hole by omitting quiet bars;
- ``unknown`` otherwise (no evidence, or mixed evidence).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan, coerce_bars, from_ms
from arbx.domain.quality.model import DataGap, GapCause, GapStatus

# Venues whose candle endpoints skip intervals without trades (see shared/data/README.md).
OMITS_EMPTY_BARS: frozenset[str] = frozenset({"kraken", "coinbase"})


def _epoch_ms(bars: pl.DataFrame) -> np.ndarray:
    if bars.is_empty():
        return np.zeros(0, dtype=np.int64)
    ts = coerce_bars(bars).get_column("ts").drop_nulls().dt.epoch("ms").to_numpy()
    return np.unique(ts.astype(np.int64))


def missing_runs(
    ts_ms: np.ndarray, step: int, lo: int | None = None, hi: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) in ms of the runs of empty grid slots in ``[lo, hi)``.

    ``ts_ms`` is sorted and unique; ``lo``/``hi`` default to the first bar and last bar + step.
    """
    if lo is None or hi is None:
        if ts_ms.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        lo = int(ts_ms[0]) if lo is None else lo
        hi = int(ts_ms[-1]) + step if hi is None else hi
    inside = ts_ms[(ts_ms >= lo) & (ts_ms < hi)]
    points = np.concatenate(([lo - step], inside, [hi]))
    holes = np.flatnonzero(np.diff(points) > step)
    return points[holes] + step, points[holes + 1]


def _count_in(sorted_ms: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    counts: np.ndarray = np.searchsorted(sorted_ms, ends, "left") - np.searchsorted(
        sorted_ms, starts, "left"
    )
    return counts


def detect_gaps(
    key: SeriesKey,
    bars: pl.DataFrame,
    *,
    span: TimeSpan | None = None,
    evidence: Mapping[SeriesKey, pl.DataFrame] | None = None,
    omits_empty_bars: bool | None = None,
    quiet_limit_bars: int = 60,
    outage_share: float = 0.5,
) -> list[DataGap]:
    """The gaps of ``bars`` (series ``key``) on its grid, sorted by start, status ``open``.

    ``evidence``: the same pair on other venues (same timeframe) used to tell the cause;
    ``omits_empty_bars`` defaults to whether the venue is in ``OMITS_EMPTY_BARS``.
    """
    if quiet_limit_bars < 0:
        raise InvalidInput("quiet_limit_bars must be >= 0", field="quiet_limit_bars")
    if not 0.0 < outage_share <= 1.0:
        raise InvalidInput("outage_share must be in (0, 1]", field="outage_share")
    step = key.timeframe.ms
    omits = str(key.exchange) in OMITS_EMPTY_BARS if omits_empty_bars is None else omits_empty_bars
    ts_ms = _epoch_ms(bars)
    if span is not None:
        lo = -(-span.start_ms // step) * step
        hi = -(-span.end_ms // step) * step
        if hi <= lo:
            return []
        starts, ends = missing_runs(ts_ms, step, lo, hi)
    else:
        starts, ends = missing_runs(ts_ms, step)
    if starts.size == 0:
        return []
    missing = (ends - starts) // step
    causes = _causes(
        key, starts, ends, missing, evidence or {}, omits, quiet_limit_bars, outage_share
    )
    return [
        DataGap(
            series=key,
            start=from_ms(int(s)),
            end=from_ms(int(e)),
            bars_missing=int(m),
            cause=cause,
            status=GapStatus.OPEN,
        )
        for s, e, m, cause in zip(starts, ends, missing, causes, strict=True)
    ]


def _causes(
    key: SeriesKey,
    starts: np.ndarray,
    ends: np.ndarray,
    missing: np.ndarray,
    evidence: Mapping[SeriesKey, pl.DataFrame],
    omits: bool,
    quiet_limit: int,
    outage_share: float,
) -> list[GapCause]:
    short = missing <= quiet_limit
    covered = np.zeros(starts.size, dtype=bool)
    traded_sets: list[np.ndarray] = []
    for other, frame in evidence.items():
        if other == key:
            continue
        if other.timeframe != key.timeframe:
            raise InvalidInput(
                f"evidence series {other} is not on {key.timeframe}; gaps are judged against"
                " series of the same timeframe",
                field="evidence",
            )
        if frame.is_empty():
            continue
        canonical = coerce_bars(frame)
        all_ms = _epoch_ms(canonical)
        covered |= (all_ms[0] <= starts) & (all_ms[-1] >= ends - key.timeframe.ms)
        traded = canonical.filter(pl.col("volume") > 0)
        traded_sets.append(_epoch_ms(traded))
    if traded_sets:
        traded_ms = np.unique(np.concatenate(traded_sets))
        share = _count_in(traded_ms, starts, ends) / missing
    else:
        share = np.zeros(starts.size)
    causes: list[GapCause] = []
    for i in range(starts.size):
        if covered[i]:
            if share[i] == 0.0 or (omits and short[i]):
                causes.append(GapCause.NO_TRADES)
            elif share[i] >= outage_share:
                causes.append(GapCause.OUTAGE)
            else:
                causes.append(GapCause.UNKNOWN)
        else:
            causes.append(GapCause.NO_TRADES if omits and short[i] else GapCause.UNKNOWN)
    return causes


def merge_gap_status(detected: Sequence[DataGap], stored: Sequence[DataGap]) -> list[DataGap]:
    """Carry what was decided about stored gaps over to a fresh detection.

    A detected gap equal in extent to a stored one keeps the stored status and fill source;
    a stored ``filled`` gap that is no longer detected (its bars are the fill) is kept; other
    stored gaps that are no longer detected disappear (the bars arrived).
    """
    by_extent = {(g.start, g.end): g for g in stored}
    merged: list[DataGap] = []
    seen: set[tuple[object, object]] = set()
    for gap in detected:
        old = by_extent.get((gap.start, gap.end))
        if old is not None:
            gap = DataGap(
                gap.series,
                gap.start,
                gap.end,
                gap.bars_missing,
                gap.cause,
                old.status,
                old.fill_source,
            )
        merged.append(gap)
        seen.add((gap.start, gap.end))
    for old in stored:
        if old.status is GapStatus.FILLED and (old.start, old.end) not in seen:
            merged.append(old)
    return sorted(merged, key=lambda g: (g.start, g.end))
