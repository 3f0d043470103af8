"""Per-bar integrity: order, duplicates, the bar rules of ``check_bars`` and the clock.

``prepare_bars`` turns any bar-shaped frame into a sorted frame with unique ``ts`` (a copy: the
input is never touched) and reports what it had to do; ``integrity_findings`` applies
``arbx.domain.market.check_bars`` (prices finite > 0, volume finite >= 0, high >= max(open,
close), low <= min(open, close), high >= low, on the grid) plus the clock rules (not before 1970, not in the
future, bar closed by ``now``). Every integrity finding is an ``error``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from arbx.domain.market import Timeframe, check_bars, coerce_bars, to_ms
from arbx.domain.market.bars import BAR_COLUMNS
from arbx.domain.quality.model import (
    Rule,
    Severity,
    concat_issues,
    empty_issues,
    issues_frame,
)

ROW = "__row"
_VALUES = list(BAR_COLUMNS[1:])


@dataclass(frozen=True)
class PreparedBars:
    """A sorted, ts-unique copy of the input, what was dropped and why.

    ``bars`` has the canonical columns plus ``__row`` (the 0-based row in the caller's frame);
    ``dropped`` lists removed rows as (``__row``, ``ts``, ``reason``).
    """

    bars: pl.DataFrame
    dropped: pl.DataFrame
    issues: pl.DataFrame


def _dropped(rows: pl.DataFrame, reason: str) -> pl.DataFrame:
    return rows.select(pl.col(ROW), pl.col("ts"), pl.lit(reason).alias("reason"))


def prepare_bars(frame: pl.DataFrame) -> PreparedBars:
    """Coerce, sort (stable) and de-duplicate on ``ts``, keeping the LAST row of each ts.

    Identical duplicates are an ``info`` finding, conflicting ones (same ts, different values) a
    ``warning``: the row kept is the last one in the caller's order, the way an upsert lets the
    newest write win. Rows without ``ts`` are dropped (they cannot be placed on the grid).
    """
    bars = coerce_bars(frame).with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    dropped: list[pl.DataFrame] = []
    issues: list[pl.DataFrame] = []
    null_ts = bars.filter(pl.col("ts").is_null())
    if not null_ts.is_empty():
        dropped.append(_dropped(null_ts, Rule.TS_NULL))
        bars = bars.filter(pl.col("ts").is_not_null())
    inversions = int(bars.select((pl.col("ts") < pl.col("ts").shift(1)).sum()).item() or 0)
    if inversions:
        first_bad = bars.filter(pl.col("ts") < pl.col("ts").shift(1)).head(1)
        issues.append(
            issues_frame(
                pl.col("ts"),
                Rule.TS_NOT_ASCENDING,
                Severity.WARNING,
                pl.lit(float(inversions)),
                None,
                f"{inversions} row(s) came before an earlier ts; the bars were sorted",
                first_bad,
            )
        )
        bars = bars.sort("ts", maintain_order=True)
    same_as_next = pl.col("ts") == pl.col("ts").shift(-1)
    in_dup = (same_as_next | (pl.col("ts") == pl.col("ts").shift(1))).fill_null(False)
    dups = bars.filter(in_dup)
    if not dups.is_empty():
        groups = dups.group_by("ts", maintain_order=True).agg(
            pl.len().alias("rows"),
            pl.struct(_VALUES).n_unique().alias("versions"),
        )
        for versions_rule, severity, keep in (
            (Rule.DUPLICATE_IDENTICAL, Severity.INFO, pl.col("versions") == 1),
            (Rule.DUPLICATE_CONFLICT, Severity.WARNING, pl.col("versions") > 1),
        ):
            chosen = groups.filter(keep)
            if chosen.is_empty():
                continue
            issues.append(
                issues_frame(
                    pl.col("ts"),
                    versions_rule,
                    severity,
                    pl.col("rows"),
                    1.0,
                    pl.format(
                        "{} rows share this ts ({} distinct); kept the last one",
                        pl.col("rows"),
                        pl.col("versions"),
                    ),
                    chosen,
                )
            )
        losers = bars.filter(same_as_next.fill_null(False))
        dropped.append(_dropped(losers, "duplicate_ts"))
        bars = bars.filter(~same_as_next.fill_null(False))
    dropped_frame = (
        pl.concat(dropped)
        if dropped
        else pl.DataFrame(schema={ROW: pl.Int64(), "ts": bars.schema["ts"], "reason": pl.String()})
    )
    return PreparedBars(bars=bars, dropped=dropped_frame, issues=concat_issues(issues))


_EXPECTED: dict[str, pl.Expr] = {
    Rule.PRICE_NOT_POSITIVE: pl.lit(0.0),
    Rule.VOLUME_NEGATIVE: pl.lit(0.0),
    Rule.HIGH_BELOW_OPEN_CLOSE: pl.max_horizontal("open", "close"),
    Rule.LOW_ABOVE_OPEN_CLOSE: pl.min_horizontal("open", "close"),
    Rule.HIGH_BELOW_LOW: pl.col("low"),
}


def integrity_findings(
    bars: pl.DataFrame, timeframe: Timeframe, now: datetime
) -> tuple[pl.DataFrame, pl.Series]:
    """Integrity errors of a prepared frame, and a boolean mask of the rows that have any.

    ``bars`` must be sorted with unique ts (``prepare_bars``). Returns (findings, bad mask).
    """
    violations = check_bars(bars.select(BAR_COLUMNS), timeframe)
    parts: list[pl.DataFrame] = []
    if violations:
        table = pl.DataFrame(
            {
                "__i": [v.row for v in violations],
                "__rule": [v.rule for v in violations],
                "__column": [v.column for v in violations],
                "__message": [v.message for v in violations],
            },
            schema={
                "__i": pl.Int64,
                "__rule": pl.String,
                "__column": pl.String,
                "__message": pl.String,
            },
        )
        joined = table.join(
            bars.with_row_index("__i").with_columns(pl.col("__i").cast(pl.Int64)),
            on="__i",
            how="left",
        )
        observed = pl.lit(None, dtype=pl.Float64)
        for column in _VALUES:
            observed = (
                pl.when(pl.col("__column") == column).then(pl.col(column)).otherwise(observed)
            )
        expected = pl.lit(None, dtype=pl.Float64)
        for rule, expr in _EXPECTED.items():
            expected = pl.when(pl.col("__rule") == rule).then(expr).otherwise(expected)
        parts.append(
            joined.select(
                pl.col("ts"),
                pl.col("__rule").alias("rule"),
                pl.lit(Severity.ERROR.value).alias("severity"),
                observed.cast(pl.Float64).alias("observed"),
                expected.cast(pl.Float64).alias("expected"),
                pl.col("__message").alias("detail"),
            )
        )
    now_ms = to_ms(now)
    epoch = pl.col("ts").dt.epoch("ms")
    ancient = bars.filter(epoch < 0)
    if not ancient.is_empty():
        parts.append(
            issues_frame(
                pl.col("ts"),
                Rule.TS_BEFORE_EPOCH,
                Severity.ERROR,
                None,
                None,
                "bar opens before 1970-01-01 UTC; no exchange traded then (a mis-read time?)",
                ancient,
            )
        )
    future = bars.filter(epoch > now_ms)
    if not future.is_empty():
        parts.append(
            issues_frame(
                pl.col("ts"),
                Rule.TS_IN_FUTURE,
                Severity.ERROR,
                None,
                None,
                f"bar opens after now ({now.isoformat()})",
                future,
            )
        )
    forming = bars.filter((epoch <= now_ms) & (epoch + timeframe.ms > now_ms))
    if not forming.is_empty():
        parts.append(
            issues_frame(
                pl.col("ts"),
                Rule.BAR_NOT_CLOSED,
                Severity.ERROR,
                None,
                None,
                f"bar is still forming at {now.isoformat()}; only closed bars are kept",
                forming,
            )
        )
    findings = concat_issues(parts) if parts else empty_issues()
    if findings.is_empty():
        return findings, pl.Series("bad", np.zeros(bars.height, dtype=bool))
    bad_ts = findings.select(pl.col("ts").unique())
    mask = bars.select(pl.col("ts").is_in(bad_ts.get_column("ts").implode()).alias("bad"))
    return findings, mask.get_column("bad")
