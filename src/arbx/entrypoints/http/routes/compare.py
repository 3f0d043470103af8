"""``GET /api/v1/backtests/compare?ids=A,B[,C...]``: stored runs side by side (metrics and
their differences from the first, equity on one time axis, the Jobson-Korkie-Memmel test of
each Sharpe difference on the overlap). An unknown id is a 404, a run the caller may not
read a 403 (``app.compare_runs``)."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from arbx.app.compare_runs import CompareRuns
from arbx.domain.auth import Permission, Principal
from arbx.domain.research.compare import Comparison
from arbx.entrypoints.http.security import requires


@get(
    "/api/v1/backtests/compare",
    summary="Compare stored runs: metrics and differences, equity on one axis, Sharpe test",
    tags=["backtests"],
    guards=[requires(Permission.RESULTS_READ)],
)
async def compare_backtests(
    compare_runs: NamedDependency[CompareRuns],
    principal: NamedDependency[Principal],
    ids: Annotated[str, QueryParameter(description="run ids, comma-separated (2..10)")],
    max_points: Annotated[
        int, QueryParameter(description="most points of the equity axis (10..100000)")
    ] = 5000,
) -> Comparison:
    return await compare_runs.execute(ids.split(","), actor=principal, max_points=max_points)


ROUTES = [compare_backtests]
