"""Series statistics: coverage by month, gaps, quality score, return and volume distributions."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Parameter

from arbx.app.series_statistics import DescribeSeries
from arbx.domain.auth import Permission
from arbx.domain.market import SeriesKey
from arbx.entrypoints.http.security import requires
from arbx.entrypoints.schemas.series_stats import SeriesStatsOut

SeriesPath = Annotated[
    str,
    Parameter(
        description="EXCHANGE:BASE-QUOTE:TF: the pair is written with '-' (its URL slug)",
        examples=[Example(value="kraken:BTC-USDC:1m")],
    ),
]


@get(
    "/series/{key:str}/stats",
    summary="Statistics of one stored series: coverage by month, gaps, quality, distributions",
    description=(
        "Over the whole stored series: first/last bar, coverage by calendar month (UTC), the"
        " gaps on the grid, the quality score from the stored findings (`validated` is false"
        " while none were ever recorded: the score is then the coverage alone),"
        " and summaries of the close-to-close log returns (bars one grid step apart) and of"
        " the volumes."
    ),
    guards=[requires(Permission.DATA_READ)],
)
async def series_stats(
    describe_series: NamedDependency[DescribeSeries], key: SeriesPath
) -> SeriesStatsOut:
    return SeriesStatsOut.of(await describe_series.execute(SeriesKey.parse(key)))


ROUTES = [series_stats]
