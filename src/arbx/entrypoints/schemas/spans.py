"""Time spans from request text (ISO-8601 or epoch ms, UTC): the one parser of each kind.

- ``open_span``: a missing bound is open (the first or the last stored bar).
- ``optional_span``: ``None`` when neither bound is given (the whole stored series), else
  ``open_span``.
- ``closed_span``: both bounds or neither (a score needs the number of expected bars).
- ``bounded_span``: a start is required, the end defaults to open, and must come after it.
"""

from __future__ import annotations

from datetime import datetime

from arbx.domain.errors import InvalidInput
from arbx.domain.market import TimeSpan
from arbx.domain.market.timespan import parse_instant
from arbx.entrypoints.schemas.naming import Naming, as_field


def instant(text: str | None, field: str) -> datetime | None:
    """``None`` for a missing value, else the parsed instant (``InvalidInput`` naming field)."""
    return None if text is None else parse_instant(text, field=field)


def open_span(start: str | None, end: str | None) -> TimeSpan:
    whole = TimeSpan.everything()
    begin = parse_instant(start, field="start") if start else whole.start
    finish = parse_instant(end, field="end") if end else whole.end
    return TimeSpan.of(begin, finish)


def optional_span(start: str | None, end: str | None) -> TimeSpan | None:
    if start is None and end is None:
        return None
    return open_span(start, end)


def closed_span(start: str | None, end: str | None, *, name: Naming = as_field) -> TimeSpan | None:
    if (start is None) != (end is None):
        raise InvalidInput(
            f"give both {name('start')} and {name('end')}, or neither for the whole stored series",
            field="start" if start is None else "end",
        )
    return optional_span(start, end)


def bounded_span(start: str, end: str | None, *, name: Naming = as_field) -> TimeSpan:
    begin = parse_instant(start, field="start")
    finish = parse_instant(end, field="end") if end else TimeSpan.everything().end
    if finish <= begin:
        raise InvalidInput(
            f"{name('end')} {finish.isoformat()} must be after {name('start')} {begin.isoformat()}",
            field="end",
        )
    return TimeSpan.of(begin, finish)
