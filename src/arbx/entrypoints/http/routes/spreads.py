"""The live spread monitor over HTTP: the spreads it sees now and the stored opportunities.

``GET /api/v1/spreads`` answers every (buy, sell) of the ``[[spreads]]`` pairs whose quotes
are fresh, with its gross and net spread (after both taker fees) and the start of the
opportunity standing, if any; ``GET /api/v1/spreads/history`` the closed opportunities,
newest first (``pair``, ``start``, ``end``, ``limit``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from arbx.app.spread_monitor import MonitorSpreads
from arbx.domain.auth import Permission
from arbx.domain.market import to_ms
from arbx.domain.streams.spreads import SpreadOpportunity, SpreadView
from arbx.entrypoints.http.security import requires
from arbx.entrypoints.schemas.spans import open_span

READ = requires(Permission.DATA_READ)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_HISTORY = 1000


class PairOut(msgspec.Struct):
    name: str
    legs: list[str]
    threshold_bps: float
    max_age_ms: int


class SpreadOut(msgspec.Struct):
    pair: str
    buy: str
    sell: str
    ask: float
    bid: float
    gross_bps: float
    net_bps: float
    at: datetime
    open_since: datetime | None


class SpreadsOut(msgspec.Struct):
    running: bool
    pairs: list[PairOut]
    spreads: list[SpreadOut]


class OpportunityOut(msgspec.Struct):
    id: str
    pair: str
    buy: str
    sell: str
    start: datetime
    end: datetime
    duration_ms: float
    peak_net_bps: float
    mean_net_bps: float
    peak_gross_bps: float
    updates: int
    reason: str


class HistoryOut(msgspec.Struct):
    count: int
    opportunities: list[OpportunityOut]


def _at(ts_us: int) -> datetime:
    return EPOCH + timedelta(microseconds=ts_us)


def _spread(view: SpreadView) -> SpreadOut:
    return SpreadOut(
        pair=view.pair,
        buy=view.buy,
        sell=view.sell,
        ask=view.ask,
        bid=view.bid,
        gross_bps=view.gross_bps,
        net_bps=view.net_bps,
        at=_at(view.ts_us),
        open_since=None if view.open_since_us is None else _at(view.open_since_us),
    )


def _opportunity(o: SpreadOpportunity) -> OpportunityOut:
    return OpportunityOut(
        id=o.id,
        pair=o.pair,
        buy=o.buy,
        sell=o.sell,
        start=o.start,
        end=o.end,
        duration_ms=o.duration_ms,
        peak_net_bps=o.peak_net_bps,
        mean_net_bps=o.mean_net_bps,
        peak_gross_bps=o.peak_gross_bps,
        updates=o.updates,
        reason=o.reason,
    )


@get("/api/v1/spreads", summary="The live net spreads of the configured pairs", guards=[READ])
async def current_spreads(spread_monitor: NamedDependency[MonitorSpreads]) -> SpreadsOut:
    pairs = [
        PairOut(p.name, [str(leg) for leg in p.legs], p.threshold_bps, p.max_age_ms)
        for p in spread_monitor.pairs
    ]
    spreads = [_spread(v) for v in spread_monitor.current()]
    return SpreadsOut(spread_monitor.running, pairs, spreads)


@get(
    "/api/v1/spreads/history",
    summary="Closed spread opportunities, newest first",
    guards=[READ],
)
async def spread_history(
    spread_monitor: NamedDependency[MonitorSpreads],
    pair: Annotated[str | None, QueryParameter(description="a [[spreads]] name")] = None,
    start: Annotated[str | None, QueryParameter(description="ISO-8601 or epoch ms")] = None,
    end: Annotated[str | None, QueryParameter(description="ISO-8601 or epoch ms")] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_HISTORY)] = 100,
) -> HistoryOut:
    span = open_span(start, end)
    found = await spread_monitor.history(
        pair=pair,
        start_us=to_ms(span.start) * 1000 if start else None,
        end_us=to_ms(span.end) * 1000 if end else None,
        limit=limit,
    )
    return HistoryOut(len(found), [_opportunity(o) for o in found])


ROUTES = [current_spreads, spread_history]
