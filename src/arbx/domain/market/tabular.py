"""Turn a raw table (a CSV or Parquet file as read) into canonical bars plus a rejection report.

Real files differ: timestamp columns named ``timestamp``, ``ts``, ``time``, ``date`` or
``Unix Timestamp``; epoch seconds, milliseconds or ISO-8601 text; descending order (CDD
exports); repeated rows. ``normalize_bar_table`` maps columns, parses time, sorts, drops exact
duplicate rows, and rejects (with the row number in the source file and the reason) every row
that breaks the bar rules. A table that cannot be used at all (a column missing, a time column
that does not parse, no valid row) raises ``InvalidInput`` so that nothing gets written.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import msgspec
import polars as pl

from arbx.domain.errors import InvalidInput
from arbx.domain.market.bars import BAR_COLUMNS, TS_DTYPE, check_bars
from arbx.domain.market.model import Timeframe

TS_ALIASES = ("ts", "timestamp", "unix timestamp", "unix", "open_time", "time", "date", "datetime")
_VALUE_ALIASES: Mapping[str, tuple[str, ...]] = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "v", "vol", "base_volume", "volume_base"),
}
_SOURCE_ROW = "__source_row"


class TimeUnit(enum.Enum):
    """How the timestamp column is written."""

    AUTO = "auto"
    SECONDS = "s"
    MILLISECONDS = "ms"
    ISO = "iso"


class RejectedRow(msgspec.Struct, frozen=True):
    """A source row left out of an import, and why (row numbers count data rows from 0)."""

    row: int
    column: str
    rule: str
    message: str


class NormalizedBars(msgspec.Struct, frozen=True):
    bars: pl.DataFrame
    rejected: list[RejectedRow]
    duplicates_dropped: int
    source_rows: pl.Series
    """For each row of ``bars``, its row number in the source table (for later reports)."""


def resolve_columns(columns: list[str], mapping: Mapping[str, str]) -> dict[str, str]:
    """Map canonical column names to source column names.

    ``mapping`` (canonical -> source) wins; otherwise a case-insensitive alias match is used.
    """
    unknown = set(mapping) - set(BAR_COLUMNS)
    if unknown:
        raise InvalidInput(
            f"column mapping names unknown bar column(s) {', '.join(sorted(unknown))};"
            f" map any of {', '.join(BAR_COLUMNS)}",
            field="mapping",
        )
    lowered = {c.strip().lower(): c for c in columns}
    resolved: dict[str, str] = {}
    for canonical in BAR_COLUMNS:
        if canonical in mapping:
            source = mapping[canonical]
            if source not in columns:
                raise InvalidInput(
                    f"mapped column {source!r} (for {canonical}) is not in the file;"
                    f" the file has {', '.join(columns)}",
                    field=canonical,
                )
            resolved[canonical] = source
            continue
        aliases = TS_ALIASES if canonical == "ts" else _VALUE_ALIASES[canonical]
        match = next((lowered[a] for a in aliases if a in lowered), None)
        if match is None:
            raise InvalidInput(
                f"no column for {canonical}; the file has {', '.join(columns)}."
                f" Map it explicitly, e.g. --map {canonical}=<column>",
                field=canonical,
            )
        resolved[canonical] = match
    return resolved


def _parse_ts(column: pl.Series, unit: TimeUnit) -> pl.Series:
    """Parse a timestamp column into Datetime(ms, UTC); null where a value does not parse."""
    dtype = column.dtype
    if isinstance(dtype, pl.Datetime):
        tz = dtype.time_zone
        parsed = (
            column.dt.replace_time_zone("UTC") if tz is None else column.dt.convert_time_zone("UTC")
        )
        return parsed.dt.cast_time_unit("ms")
    if dtype.is_numeric():
        if unit is TimeUnit.ISO:
            raise InvalidInput("time unit 'iso' given but the ts column holds numbers", field="ts")
        values = column.cast(pl.Float64)
        if unit is TimeUnit.AUTO:
            magnitude = values.abs().max()
            top = float(magnitude) if isinstance(magnitude, (int, float)) else 0.0
            # seconds reach 1e11 only in the year 5138; ms reach 1e14 in 5138; beyond is us/ns
            factor = 1000.0 if top < 1e11 else 1.0 if top < 1e14 else 1e-3 if top < 1e17 else 1e-6
        else:
            factor = 1000.0 if unit is TimeUnit.SECONDS else 1.0
        ms = (values * factor).round(0)
        return ms.cast(pl.Int64, strict=False).cast(TS_DTYPE)
    if dtype == pl.String:
        if unit in (TimeUnit.SECONDS, TimeUnit.MILLISECONDS):
            factor = 1000 if unit is TimeUnit.SECONDS else 1
            ints = column.str.strip_chars().cast(pl.Int64, strict=False)
            return (ints * factor).cast(TS_DTYPE)
        text = column.str.strip_chars()
        if unit is TimeUnit.ISO:
            return _parse_iso(text)
        digits = text.str.contains(r"^-?\d+(\.\d+)?$")
        if not digits.any():
            return _parse_iso(text)
        numeric = _parse_ts(text.cast(pl.Float64, strict=False), TimeUnit.AUTO)
        if digits.all():
            return numeric
        # mixed epoch numbers and ISO text: each value by its own form
        return (
            pl.select(pl.when(digits).then(numeric).otherwise(_parse_iso(text)))
            .to_series()
            .alias(column.name)
        )
    raise InvalidInput(f"ts column has dtype {dtype}; expected numbers or text", field="ts")


def _parse_iso(text: pl.Series) -> pl.Series:
    """ISO-8601 text (with 'T' or a space, optional fraction, 'Z' or an offset, or a bare date);
    values without an offset are taken to be UTC."""
    t = text.str.replace(r"Z$", "+00:00").str.replace(" ", "T", literal=True)
    attempts = [
        t.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="ms", time_zone="UTC"),
        t.str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="ms"
        ).dt.replace_time_zone("UTC"),
        t.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="ms").dt.replace_time_zone(
            "UTC"
        ),
        t.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"),
    ]
    return pl.select(pl.coalesce(attempts)).to_series().alias(text.name)


def _parse_with_format(text: pl.Series, time_format: str) -> pl.Series:
    """Parse text with a strftime format, as UTC. Formats with hours but no minutes (CDD's
    "%Y-%m-%d %I-%p") get a zero minute added, since the parser needs both."""
    values = text.str.strip_chars()
    fmt = time_format
    if ("%H" in fmt or "%I" in fmt) and "%M" not in fmt:
        values, fmt = values + " 00", fmt + " %M"
    try:
        parsed = values.str.to_datetime(fmt, strict=False, time_unit="ms")
    except pl.exceptions.PolarsError as exc:
        raise InvalidInput(f"time format {time_format!r} is not usable: {exc}", field="ts") from exc
    return parsed.dt.replace_time_zone("UTC")


def normalize_bar_table(
    raw: pl.DataFrame,
    timeframe: Timeframe,
    mapping: Mapping[str, str] | None = None,
    time_unit: TimeUnit = TimeUnit.AUTO,
    time_format: str | None = None,
) -> NormalizedBars:
    """Canonical bars from ``raw``; rows that break the bar rules are rejected and reported.

    ``time_format`` (strftime, e.g. "%Y-%m-%d %I-%p" for CryptoDataDownload's legacy files)
    parses a text time column written in a non-ISO way; such times are taken to be UTC.
    """
    if raw.height == 0:
        raise InvalidInput("the file holds no rows", field="file")
    columns = resolve_columns(raw.columns, mapping or {})
    ts_source = raw.get_column(columns["ts"])
    if time_format:
        if ts_source.dtype != pl.String:
            raise InvalidInput("a time format applies to a text time column only", field="ts")
        ts = _parse_with_format(ts_source, time_format)
    else:
        ts = _parse_ts(ts_source, time_unit)
    if ts.null_count() == raw.height and time_format:
        raise InvalidInput(
            f"column {columns['ts']!r} does not match --time-format {time_format!r} in any row"
            f" (first value: {ts_source[0]!r}); fix the format or map another column with"
            " --map ts=<column>",
            field="ts",
        )
    if ts.null_count() == raw.height:
        raise InvalidInput(
            f"column {columns['ts']!r} does not parse as time in any row; use --time-unit s|ms|iso"
            " or map another column with --map ts=<column>",
            field="ts",
        )
    values = []
    for name in BAR_COLUMNS[1:]:
        source = raw.get_column(columns[name])
        if source.dtype == pl.String:
            source = source.str.strip_chars().cast(pl.Float64, strict=False)
        elif not source.dtype.is_numeric():
            raise InvalidInput(
                f"column {columns[name]!r} (for {name}) holds {source.dtype}, not numbers",
                field=name,
            )
        values.append(source.cast(pl.Float64).alias(name))
    table = pl.DataFrame([ts.alias("ts"), *values]).with_row_index(_SOURCE_ROW)

    rejected: list[RejectedRow] = []
    unparsed = table.filter(pl.col("ts").is_null())
    for row in unparsed.get_column(_SOURCE_ROW).to_list():
        rejected.append(RejectedRow(int(row), "ts", "ts_unparsed", "ts does not parse as a time"))
    table = table.filter(pl.col("ts").is_not_null()).sort("ts", _SOURCE_ROW)

    # exact repeats of a row are harmless: keep one; conflicting rows for one ts are rejected
    before = table.height
    table = table.unique(subset=list(BAR_COLUMNS), keep="first", maintain_order=True)
    duplicates_dropped = before - table.height
    conflicting = table.filter(pl.col("ts").is_duplicated())
    if conflicting.height:
        for row in conflicting.get_column(_SOURCE_ROW).to_list():
            rejected.append(
                RejectedRow(
                    int(row),
                    "ts",
                    "ts_conflict",
                    "another row has the same ts with different values",
                )
            )
        table = table.filter(~pl.col("ts").is_duplicated())

    violations = check_bars(table.select(BAR_COLUMNS), timeframe)
    if violations:
        source_rows = table.get_column(_SOURCE_ROW)
        bad_positions: set[int] = set()
        for violation in violations:
            bad_positions.add(violation.row)
            rejected.append(
                RejectedRow(
                    int(source_rows[violation.row]),
                    violation.column,
                    violation.rule,
                    violation.message,
                )
            )
        keep = pl.Series([i not in bad_positions for i in range(table.height)])
        table = table.filter(keep)
    if table.height == 0:
        raise InvalidInput(
            f"no usable row in the file: all {raw.height} rows were rejected"
            + (f" (first: row {rejected[0].row}, {rejected[0].message})" if rejected else ""),
            field="file",
            details=[
                msgspec.structs.asdict(r) for r in sorted(rejected, key=lambda r: r.row)[:100]
            ],
        )
    rejected.sort(key=lambda r: (r.row, r.column))
    return NormalizedBars(
        table.select(BAR_COLUMNS), rejected, duplicates_dropped, table.get_column(_SOURCE_ROW)
    )
