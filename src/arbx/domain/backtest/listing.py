"""What a run listing asks for beyond the strategy: the runs that read a series or traded
on a venue, whose span overlaps a time range, sorted by a metric, one page at a time.

Run stores apply a ``RunQuery`` themselves (SQL for SQLite and PostgreSQL, ``matches`` and
``sort_key`` for the in-memory store), so paging happens in the store. ``parse_run_query``
turns the faces' text into one, refusing a bad value with ``InvalidInput`` naming the
parameter.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

import msgspec

from arbx.domain.backtest.run import RunMeta
from arbx.domain.errors import ArbxError, InvalidInput
from arbx.domain.market import SeriesKey
from arbx.domain.market.model import Exchange
from arbx.domain.market.timespan import parse_instant

# sort key -> its path in a run's metadata (None: the created_at column)
SORT_KEYS: dict[str, tuple[str, ...] | None] = {
    "created_at": None,
    "total_return": ("metrics", "total_return"),
    "cagr": ("metrics", "cagr"),
    "sharpe": ("metrics", "sharpe"),
    "sortino": ("metrics", "sortino"),
    "calmar": ("metrics", "calmar"),
    "max_drawdown": ("metrics", "max_drawdown"),
    "win_rate": ("metrics", "win_rate"),
    "profit_factor": ("metrics", "profit_factor"),
    "trade_count": ("metrics", "trade_count"),
    "final_equity": ("metrics", "final_equity"),
    "excess_return": ("excess_return",),
}
Order = Literal["asc", "desc"]
MAX_OFFSET = 1_000_000


class RunQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Filters and order of a run listing (every filter optional).

    - ``series``: runs that read this series ("exchange:BASE/QUOTE:tf");
    - ``venue``: runs that read any series of this exchange;
    - ``start``/``end``: runs whose span overlaps ``[start, end)``;
    - ``sort``: a key of ``SORT_KEYS`` (runs without the value last, either order), ties
      newest first; ``offset``: runs skipped before the page.
    """

    series: str | None = None
    venue: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    sort: str = "created_at"
    order: Order = "desc"
    offset: int = 0

    def matches(self, meta: RunMeta) -> bool:
        names = [s.series for s in meta.series]
        if self.series is not None and self.series not in names:
            return False
        if self.venue is not None and not any(n.startswith(self.venue + ":") for n in names):
            return False
        if self.start is not None and not meta.span_end > self.start:
            return False
        return self.end is None or meta.span_start < self.end

    def value(self, meta: RunMeta) -> float | None:
        """The sort value of a run (None: it has none)."""
        path = SORT_KEYS[self.sort]
        if path is None:
            return meta.created_at.timestamp()
        node: Any = meta
        for part in path:
            node = getattr(node, part, None)
        if node is None or (isinstance(node, float) and not math.isfinite(node)):
            return None
        return float(node)

    def sort_key(self, meta: RunMeta) -> tuple[bool, float, float, str]:
        """Ascending order of ``sorted``: the wanted order, no value last, then newest
        first (created_at, then id, descending)."""
        v = self.value(meta)
        signed = 0.0 if v is None else (v if self.order == "asc" else -v)
        return (v is None, signed, -meta.created_at.timestamp(), _desc(meta.id))


def _desc(text: str) -> str:
    """A string whose ascending order is ``text``'s descending order (ids are ASCII)."""
    return "".join(chr(0x10FFFF - ord(c)) for c in text)


def parse_run_query(
    *,
    series: str | None = None,
    venue: str | None = None,
    start: str | None = None,
    end: str | None = None,
    sort: str | None = None,
    order: str | None = None,
    offset: int = 0,
) -> RunQuery:
    """A ``RunQuery`` from text; ``InvalidInput`` names the bad parameter."""
    if series is not None:
        try:
            series = str(SeriesKey.parse(series))
        except ArbxError as exc:
            raise InvalidInput(f"series {series!r}: {exc.message}", field="series") from None
    if venue is not None:
        try:
            venue = str(Exchange.parse(venue))
        except ArbxError as exc:
            raise InvalidInput(f"venue {venue!r}: {exc.message}", field="venue") from None
    begin = None if start is None else parse_instant(start, field="start")
    finish = None if end is None else parse_instant(end, field="end")
    if begin is not None and finish is not None and finish <= begin:
        raise InvalidInput("end must be after start", field="end")
    key = sort or "created_at"
    if key not in SORT_KEYS:
        raise InvalidInput(
            f"cannot sort by {key!r}; use one of {', '.join(SORT_KEYS)}", field="sort"
        )
    direction = order or "desc"
    if direction not in ("asc", "desc"):
        raise InvalidInput(f"order must be asc or desc, got {direction!r}", field="order")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET:,}", field="offset")
    return RunQuery(
        series=series,
        venue=venue,
        start=begin,
        end=finish,
        sort=key,
        order=direction,  # type: ignore[arg-type]
        offset=offset,
    )
