"""The canonical bar frame and its integrity check.

A bar series is a polars DataFrame with ``ts`` (Datetime ms, UTC, the bar's OPEN time) and
``open, high, low, close, volume`` (Float64), sorted by ``ts``, unique ``ts``, on the
timeframe grid. Every store, engine and route speaks this frame.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market.model import Timeframe

TS_DTYPE = pl.Datetime("ms", "UTC")
BAR_SCHEMA: Mapping[str, pl.DataType] = {
    "ts": TS_DTYPE,
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
}
BAR_COLUMNS: tuple[str, ...] = tuple(BAR_SCHEMA)
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")


def empty_bars() -> pl.DataFrame:
    return pl.DataFrame(schema=dict(BAR_SCHEMA))


def coerce_bars(frame: pl.DataFrame) -> pl.DataFrame:
    """Select the bar columns in canonical order and cast them to the canonical dtypes.

    Raises ``InvalidInput`` naming a missing column or one that cannot be cast.
    """
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"bar frame lacks column(s) {', '.join(missing)}; a bar frame has"
            f" {', '.join(BAR_COLUMNS)}",
            field=missing[0],
        )
    exprs = []
    for name, dtype in BAR_SCHEMA.items():
        column = frame.get_column(name)
        if name == "ts":
            if isinstance(column.dtype, pl.Datetime):
                tz = column.dtype.time_zone
                expr = pl.col("ts")
                expr = (
                    expr.dt.replace_time_zone("UTC")
                    if tz is None
                    else expr.dt.convert_time_zone("UTC")
                )
                exprs.append(expr.dt.cast_time_unit("ms"))
                continue
            if column.dtype.is_integer():
                exprs.append(pl.col("ts").cast(pl.Int64).cast(TS_DTYPE))
                continue
            raise InvalidInput(
                f"column ts has dtype {column.dtype}; expected a datetime or epoch milliseconds",
                field="ts",
            )
        if not (column.dtype.is_numeric() or column.dtype == pl.Null):
            raise InvalidInput(
                f"column {name} has dtype {column.dtype}; expected numbers", field=name
            )
        exprs.append(pl.col(name).cast(dtype))
    return frame.select(exprs)


class BarViolation(msgspec.Struct, frozen=True):
    """One row that breaks an integrity rule: which row (0-based), which column, which rule."""

    row: int
    column: str
    rule: str
    message: str


# (rule, column, predicate that is TRUE for a bad row, message)
_ROW_RULES: tuple[tuple[str, str, pl.Expr, str], ...] = (
    ("ts_null", "ts", pl.col("ts").is_null(), "ts is missing"),
    *(
        (
            "price_not_finite",
            col,
            pl.col(col).is_nan() | pl.col(col).is_infinite(),
            f"{col} must be a finite number (the venue sent NaN or infinity)",
        )
        for col in PRICE_COLUMNS
    ),
    *(
        (
            "price_not_positive",
            col,
            pl.col(col).is_null() | (pl.col(col).is_finite() & (pl.col(col) <= 0)),
            f"{col} must be a number > 0",
        )
        for col in PRICE_COLUMNS
    ),
    (
        "volume_not_finite",
        "volume",
        pl.col("volume").is_nan() | pl.col("volume").is_infinite(),
        "volume must be a finite number (the venue sent NaN or infinity)",
    ),
    (
        "volume_negative",
        "volume",
        pl.col("volume").is_null() | (pl.col("volume").is_finite() & (pl.col("volume") < 0)),
        "volume must be a number >= 0",
    ),
    (
        "high_below_open_close",
        "high",
        pl.col("high") < pl.max_horizontal("open", "close"),
        "high is below max(open, close)",
    ),
    (
        "low_above_open_close",
        "low",
        pl.col("low") > pl.min_horizontal("open", "close"),
        "low is above min(open, close)",
    ),
    ("high_below_low", "high", pl.col("high") < pl.col("low"), "high is below low"),
)


def check_bars(frame: pl.DataFrame, timeframe: Timeframe | None = None) -> list[BarViolation]:
    """All per-row violations of the bar integrity rules, in row order.

    The frame must already have the canonical columns and dtypes (see ``coerce_bars``).
    Rules: prices finite (``price_not_finite``) and > 0, volume finite and >= 0, high >= max(open, close),
    low <= min(open, close), high >= low, ts present, on the timeframe grid (when given),
    strictly ascending (no duplicates).
    """
    rules = list(_ROW_RULES)
    if timeframe is not None:
        rules.append(
            (
                "ts_off_grid",
                "ts",
                (pl.col("ts").dt.epoch("ms") % timeframe.ms) != 0,
                f"ts is not on the {timeframe} grid",
            )
        )
    rules.append(
        (
            "ts_not_ascending",
            "ts",
            (pl.col("ts") <= pl.col("ts").shift(1)).fill_null(False),
            "ts is not after the previous row's ts (unsorted or duplicate)",
        )
    )
    flags = frame.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("__row"),
        *(pred.fill_null(False).alias(f"__r{i}") for i, (_, _, pred, _) in enumerate(rules)),
    )
    bad = flags.filter(pl.any_horizontal(pl.exclude("__row")))
    violations: list[BarViolation] = []
    for record in bad.iter_rows():
        row = int(record[0])
        for i, hit in enumerate(record[1:]):
            if hit:
                rule, column, _, message = rules[i]
                violations.append(BarViolation(row, column, rule, message))
    return violations


def validate_bars(frame: pl.DataFrame, timeframe: Timeframe | None = None) -> pl.DataFrame:
    """Coerce ``frame`` to the canonical schema and raise on the first offending row.

    The error names the row (0-based), the column and the rule, e.g.
    "row 17, column high: high is below max(open, close)".
    """
    bars = coerce_bars(frame)
    violations = check_bars(bars, timeframe)
    if violations:
        first = violations[0]
        raise InvalidInput(
            f"row {first.row}, column {first.column}: {first.message}"
            + (f" ({len(violations) - 1} more violation(s))" if len(violations) > 1 else ""),
            field=first.column,
            details=[msgspec.structs.asdict(v) for v in violations[:100]],
        )
    return bars
