"""Which span of time one run of a job works on.

Only closed bars count: at ``now`` the bar that contains ``now`` is still forming, so the
newest closed bar opens at ``timeframe.floor(now) - timeframe``, and every window ends at
``timeframe.floor(now)`` (half-open).
"""

from __future__ import annotations

from datetime import datetime

from arbx.domain.errors import InvalidInput
from arbx.domain.jobs.model import JobKind
from arbx.domain.market import Timeframe, TimeSpan, from_ms, to_ms


def closed_until(now: datetime, timeframe: Timeframe) -> datetime:
    """The end (exclusive) of the closed bars at ``now``: the open time of the forming bar."""
    if now.tzinfo is None:
        raise InvalidInput("now must be timezone-aware (UTC)", field="now")
    return from_ms(timeframe.floor_ms(to_ms(now)))


def collection_window(
    now: datetime,
    timeframe: Timeframe,
    lookback_bars: int,
    stored_until: datetime | None,
) -> TimeSpan | None:
    """The closed bars a collection run fetches for one series, or None when it is current.

    ``stored_until`` is the end of the newest stored bar (its open time + timeframe), or None
    when nothing is stored in the lookback. The window starts there, but never more than
    ``lookback_bars`` bars back (a series left alone for a month does not make one run fetch
    a month; a backfill does that), and ends at the newest closed bar.
    """
    if lookback_bars < 1:
        raise InvalidInput("lookback_bars must be at least 1", field="lookback_bars")
    end = closed_until(now, timeframe)
    earliest = from_ms(to_ms(end) - lookback_bars * timeframe.ms)
    start = earliest
    if stored_until is not None and stored_until > earliest:
        start = from_ms(timeframe.floor_ms(to_ms(stored_until) + timeframe.ms - 1))
    return TimeSpan(start, end) if start < end else None


def lookback_window(now: datetime, timeframe: Timeframe, lookback_bars: int) -> TimeSpan:
    """The last ``lookback_bars`` closed bars: what a validate or repair run checks."""
    if lookback_bars < 1:
        raise InvalidInput("lookback_bars must be at least 1", field="lookback_bars")
    end = closed_until(now, timeframe)
    return TimeSpan(from_ms(to_ms(end) - lookback_bars * timeframe.ms), end)


def run_window(
    kind: JobKind,
    now: datetime,
    timeframe: Timeframe,
    lookback_bars: int,
    stored_until: datetime | None = None,
) -> TimeSpan | None:
    """The window of one series for a run of ``kind`` (None: nothing to do)."""
    if kind is JobKind.COLLECT:
        return collection_window(now, timeframe, lookback_bars, stored_until)
    return lookback_window(now, timeframe, lookback_bars)
