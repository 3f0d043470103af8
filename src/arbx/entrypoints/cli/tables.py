"""Plain-text tables for the terminal: every column, aligned, no truncation, readable numbers.

A polars frame prints as a boxed repr that elides columns and rows to fit a width; a table of
trades must show them all, with times to the minute and prices as prices.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

PERCENT_COLUMNS = frozenset({"return"})


def cell(value: Any, column: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, float):
        if column in PERCENT_COLUMNS:
            return f"{value * 100:,.2f}%"
        if value != value:  # NaN
            return "-"
        if abs(value) >= 1 or value == 0:
            return f"{value:,.2f}"
        return f"{value:.6g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def plain_table(frame: pl.DataFrame, limit: int | None = None) -> list[str]:
    """``frame`` (its first ``limit`` rows) as aligned lines: text left, numbers right."""
    shown = frame if limit is None else frame.head(limit)
    columns = shown.columns
    rows = [
        [cell(value, name) for name, value in zip(columns, row, strict=True)]
        for row in shown.iter_rows()
    ]
    numeric = [shown.schema[name].is_numeric() for name in columns]
    widths = [max([len(name), *(len(r[i]) for r in rows)]) for i, name in enumerate(columns)]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line(list(columns)), line(["-" * w for w in widths]), *(line(r) for r in rows)]
