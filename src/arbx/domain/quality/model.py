"""What data-quality checks find: issues on bars and gaps in the grid.

Findings travel in two shapes. Inside the domain they are polars frames (one row per finding,
built vectorized: a 10-million-bar series can carry hundreds of thousands of findings); at the
edges (stores, API) they are ``ValidationIssue`` and ``DataGap`` msgspec structs.
``issues_to_frame`` / ``frame_to_issues`` convert between the two.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from datetime import datetime

import msgspec
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market import SeriesKey, TimeSpan
from arbx.domain.market.bars import TS_DTYPE


class Severity(enum.Enum):
    """How bad a finding is. ``error`` bars are rejected on ingest; the rest are stored."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise InvalidInput(
                f"severity {text!r} is not one of info, warning, error", field="severity"
            ) from None

    def __str__(self) -> str:
        return self.value


class Rule:
    """Names of the validation rules (the ``rule`` of a finding)."""

    # integrity (per bar, from arbx.domain.market.check_bars plus the clock)
    PRICE_NOT_POSITIVE = "price_not_positive"
    PRICE_NOT_FINITE = "price_not_finite"  # NaN or infinity: a broken feed, not a price <= 0
    VOLUME_NOT_FINITE = "volume_not_finite"
    VOLUME_NEGATIVE = "volume_negative"
    HIGH_BELOW_OPEN_CLOSE = "high_below_open_close"
    LOW_ABOVE_OPEN_CLOSE = "low_above_open_close"
    HIGH_BELOW_LOW = "high_below_low"
    TS_OFF_GRID = "ts_off_grid"
    TS_NOT_ASCENDING = "ts_not_ascending"
    TS_NULL = "ts_null"
    TS_IN_FUTURE = "ts_in_future"
    TS_BEFORE_EPOCH = "ts_before_1970"
    BAR_NOT_CLOSED = "bar_not_closed"
    # series rules
    DUPLICATE_IDENTICAL = "duplicate_identical"
    DUPLICATE_CONFLICT = "duplicate_conflict"
    STALE_RUN = "stale_run"
    RETURN_OUTLIER_MAD = "return_outlier_mad"
    RETURN_OUTLIER_IQR = "return_outlier_iqr"
    CROSS_VENUE_DEVIATION = "cross_venue_deviation"


class ValidationIssue(msgspec.Struct, frozen=True):
    """One finding on one bar (or, for a stale run, on the run's first bar).

    ``observed`` is the offending value (a price, a return's z-score, a run length, a deviation
    in bps); ``expected`` the bound it broke, when there is one.
    """

    series: SeriesKey
    ts: datetime
    rule: str
    severity: Severity
    observed: float | None
    expected: float | None
    detail: str


class GapCause(enum.Enum):
    """Why bars are missing, as far as the evidence tells."""

    NO_TRADES = "no_trades"  # the venue printed no bar because nothing traded
    OUTAGE = "outage"  # other venues traded: the venue or our collector was down
    UNKNOWN = "unknown"
    # at the live edge (the collectors' settle window): the venue may still publish these
    # bars; provisional, asked again on the next run and classed once the edge has moved on
    PENDING = "pending"
    # the venue answered without these bars because it does not serve that far back
    # (Kraken's OHLC endpoint serves its latest 720 intervals only)
    NOT_SERVED = "not_served"

    def __str__(self) -> str:
        return self.value


class GapStatus(enum.Enum):
    """What has been done about a gap."""

    OPEN = "open"  # detected, nothing done yet
    FILLED = "filled"  # bars were synthesized by a repair (see ``DataGap.fill_source``)
    ACCEPTED = "accepted"  # the user left it as it is (policy "leave")

    @classmethod
    def parse(cls, text: str) -> GapStatus:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise InvalidInput(
                f"gap status {text!r} is not one of open, filled, accepted", field="status"
            ) from None

    def __str__(self) -> str:
        return self.value


class DataGap(msgspec.Struct, frozen=True):
    """Missing grid bars of one series: ``[start, end)``, ``bars_missing`` slots."""

    series: SeriesKey
    start: datetime
    end: datetime
    bars_missing: int
    cause: GapCause
    status: GapStatus = GapStatus.OPEN
    fill_source: str | None = None  # "ffill" or the reference series, once filled

    @property
    def span(self) -> TimeSpan:
        return TimeSpan(self.start, self.end)


class SeriesScore(msgspec.Struct, frozen=True):
    """The per-series quality score and the parts it is made of (see ``scoring``)."""

    score: float
    coverage: float
    expected_bars: int
    present_bars: int
    excused_bars: int
    error_bars: int
    warning_bars: int
    info_bars: int
    stale_bars: int
    stale_share: float
    issue_counts: dict[str, int]


ISSUE_SCHEMA: Mapping[str, pl.DataType] = {
    "ts": TS_DTYPE,
    "rule": pl.String(),
    "severity": pl.String(),
    "observed": pl.Float64(),
    "expected": pl.Float64(),
    "detail": pl.String(),
}


def empty_issues() -> pl.DataFrame:
    return pl.DataFrame(schema=dict(ISSUE_SCHEMA))


def issues_frame(
    ts: pl.Series | pl.Expr,
    rule: str,
    severity: Severity,
    observed: pl.Series | pl.Expr | None,
    expected: pl.Series | pl.Expr | float | None,
    detail: pl.Expr | str,
    source: pl.DataFrame,
) -> pl.DataFrame:
    """Build findings from ``source`` rows: one finding per row, columns as ``ISSUE_SCHEMA``."""

    def as_expr(value: pl.Series | pl.Expr | float | str | None, dtype: pl.DataType) -> pl.Expr:
        if isinstance(value, pl.Expr):
            return value.cast(dtype)
        if isinstance(value, pl.Series):
            return pl.lit(value).cast(dtype)
        return pl.lit(value, dtype=dtype)

    return source.select(
        as_expr(ts, TS_DTYPE).alias("ts"),
        pl.lit(rule, dtype=pl.String()).alias("rule"),
        pl.lit(severity.value, dtype=pl.String()).alias("severity"),
        as_expr(observed, pl.Float64()).alias("observed"),
        as_expr(expected, pl.Float64()).alias("expected"),
        as_expr(detail, pl.String()).alias("detail"),
    )


def concat_issues(frames: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """All findings sorted by (ts, rule): a deterministic order for stores and tests."""
    parts = [f for f in frames if not f.is_empty()]
    if not parts:
        return empty_issues()
    return pl.concat(parts, how="vertical").sort(["ts", "rule"], maintain_order=True)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def frame_to_issues(series: SeriesKey, frame: pl.DataFrame) -> list[ValidationIssue]:
    """Findings as structs (a non-finite observed or expected value becomes None)."""
    return [
        ValidationIssue(
            series=series,
            ts=row["ts"],
            rule=row["rule"],
            severity=Severity(row["severity"]),
            observed=_finite(row["observed"]),
            expected=_finite(row["expected"]),
            detail=row["detail"],
        )
        for row in frame.iter_rows(named=True)
    ]


def issues_to_frame(issues: Iterable[ValidationIssue]) -> pl.DataFrame:
    rows = [(i.ts, i.rule, i.severity.value, i.observed, i.expected, i.detail) for i in issues]
    if not rows:
        return empty_issues()
    return pl.DataFrame(rows, schema=dict(ISSUE_SCHEMA), orient="row")
