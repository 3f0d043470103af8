"""Statistics of one stored bar series: coverage by month, gaps, return and volume distributions.

``series_statistics(key, bars)`` is pure: it takes the canonical bar frame of the whole series
(sorted, unique ``ts`` on the key's grid) and computes

- ``first_ts`` / ``last_ts`` (open times of the first and last bar) and ``rows``;
- coverage by calendar month (UTC): the grid slots of the month that lie between the first
  bar and the last bar's close (``expected``), the bars present, and their ratio;
- the gaps on the grid between the first and the last bar: how many runs of missing slots,
  how many slots they miss, the longest one;
- the distribution of close-to-close log returns between bars ONE grid step apart (a return
  across a gap mixes several bars and is left out), and of the bar volumes.

The sums tie up: ``sum(month.present) == rows``, ``sum(month.expected) == rows +
gaps.bars_missing``; tests hold them to that.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
import numpy as np
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market.bars import coerce_bars
from arbx.domain.market.model import SeriesKey
from arbx.domain.market.timespan import from_ms

QUANTILES: tuple[tuple[str, float], ...] = (
    ("p01", 0.01),
    ("p05", 0.05),
    ("p25", 0.25),
    ("p50", 0.50),
    ("p75", 0.75),
    ("p95", 0.95),
    ("p99", 0.99),
)


class Distribution(msgspec.Struct, frozen=True, kw_only=True):
    """A summary of sample values (None when there are none; std/skew/kurtosis need two)."""

    count: int
    mean: float | None = None
    std: float | None = None  # sample standard deviation (ddof=1)
    min: float | None = None
    p01: float | None = None
    p05: float | None = None
    p25: float | None = None
    p50: float | None = None
    p75: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    skew: float | None = None  # moment skewness
    excess_kurtosis: float | None = None  # moment kurtosis minus 3


class MonthCoverage(msgspec.Struct, frozen=True, kw_only=True):
    month: str  # "YYYY-MM" (UTC)
    expected: int  # grid slots of the month inside [first bar, last bar's close)
    present: int
    coverage: float  # present / expected


class GapSummary(msgspec.Struct, frozen=True, kw_only=True):
    count: int
    bars_missing: int
    longest_bars: int
    longest_start: datetime | None = None  # the first missing slot of the longest gap


class SeriesStatistics(msgspec.Struct, frozen=True, kw_only=True):
    key: SeriesKey
    first_ts: datetime
    last_ts: datetime
    rows: int
    expected_bars: int  # grid slots from the first bar to the last bar's close
    coverage: float  # rows / expected_bars
    months: list[MonthCoverage]
    gaps: GapSummary
    returns: Distribution  # log(close_t / close_{t-1}) of bars one grid step apart
    volume: Distribution
    zero_volume_bars: int
    total_volume: float


def distribution(values: np.ndarray) -> Distribution:
    """The summary of ``values`` (finite float64); quantiles by linear interpolation."""
    n = int(values.size)
    if n == 0:
        return Distribution(count=0)
    qs = np.quantile(values, [q for _, q in QUANTILES])
    mean = float(values.mean())
    std = skew = kurt = None
    if n >= 2:
        std = float(values.std(ddof=1))
        centred = values - mean
        m2 = float(np.mean(centred**2))
        if m2 > 0.0:
            skew = float(np.mean(centred**3) / m2**1.5)
            kurt = float(np.mean(centred**4) / m2**2 - 3.0)
    return Distribution(
        count=n,
        mean=mean,
        std=std,
        min=float(values.min()),
        max=float(values.max()),
        skew=skew,
        excess_kurtosis=kurt,
        **{name: float(q) for (name, _), q in zip(QUANTILES, qs, strict=True)},
    )


def _month_starts_ms(first_ms: int, end_ms: int) -> np.ndarray:
    """The UTC month starts from the month of ``first_ms`` up to the one holding ``end_ms - 1``,
    and the start of the month after (the last boundary)."""
    first = np.datetime64(first_ms, "ms").astype("datetime64[M]")
    last = np.datetime64(end_ms - 1, "ms").astype("datetime64[M]")
    months = np.arange(first, last + np.timedelta64(2, "M"), dtype="datetime64[M]")
    return months.astype("datetime64[ms]").astype(np.int64)


def _months(ts_ms: np.ndarray, step: int) -> list[MonthCoverage]:
    lo, hi = int(ts_ms[0]), int(ts_ms[-1]) + step
    bounds = _month_starts_ms(lo, hi)
    starts = np.maximum(bounds[:-1], lo)
    ends = np.minimum(bounds[1:], hi)
    # grid slots in [start, end): both ends are on the grid (month starts are whole days)
    expected = (ends - starts + step - 1) // step
    present = np.searchsorted(ts_ms, ends) - np.searchsorted(ts_ms, starts)
    labels = bounds[:-1].astype("datetime64[ms]").astype("datetime64[M]").astype(str)
    return [
        MonthCoverage(
            month=str(label), expected=int(e), present=int(p), coverage=float(p / e) if e else 0.0
        )
        for label, e, p in zip(labels, expected, present, strict=True)
    ]


def _gaps(ts_ms: np.ndarray, step: int) -> GapSummary:
    steps = np.diff(ts_ms) // step - 1  # missing slots after each bar
    holes = np.flatnonzero(steps > 0)
    if holes.size == 0:
        return GapSummary(count=0, bars_missing=0, longest_bars=0)
    longest = int(holes[np.argmax(steps[holes])])
    return GapSummary(
        count=int(holes.size),
        bars_missing=int(steps[holes].sum()),
        longest_bars=int(steps[longest]),
        longest_start=from_ms(int(ts_ms[longest]) + step),
    )


def series_statistics(key: SeriesKey, bars: pl.DataFrame) -> SeriesStatistics:
    """The statistics of the whole series ``bars`` (see the module docstring).

    Raises ``InvalidInput`` for an empty frame (there is nothing to describe) or one whose
    ``ts`` are not sorted, unique and on the key's grid.
    """
    if bars.is_empty():
        raise InvalidInput(f"{key} holds no bars; there are no statistics to compute")
    frame = coerce_bars(bars)
    step = key.timeframe.ms
    ts_ms = frame.get_column("ts").dt.epoch("ms").to_numpy().astype(np.int64)
    if ts_ms.size > 1 and not bool(np.all(np.diff(ts_ms) > 0)):
        raise InvalidInput(f"the bars of {key} are not sorted by ts with unique ts")
    if bool(np.any(ts_ms % step)):
        raise InvalidInput(f"the bars of {key} are not on the {key.timeframe} grid")
    close = frame.get_column("close").to_numpy()
    volume = frame.get_column("volume").to_numpy()
    adjacent = np.flatnonzero(np.diff(ts_ms) == step)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_returns = np.log(close[adjacent + 1] / close[adjacent])
    log_returns = log_returns[np.isfinite(log_returns)]
    expected = int((ts_ms[-1] - ts_ms[0]) // step + 1)
    return SeriesStatistics(
        key=key,
        first_ts=from_ms(int(ts_ms[0])),
        last_ts=from_ms(int(ts_ms[-1])),
        rows=int(ts_ms.size),
        expected_bars=expected,
        coverage=float(ts_ms.size / expected),
        months=_months(ts_ms, step),
        gaps=_gaps(ts_ms, step),
        returns=distribution(log_returns),
        volume=distribution(volume),
        zero_volume_bars=int(np.count_nonzero(volume == 0.0)),
        total_volume=float(volume.sum()),
    )
